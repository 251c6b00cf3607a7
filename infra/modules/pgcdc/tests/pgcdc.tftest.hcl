# Wiring of the pgcdc module, checked without AWS: every resource comes from a mocked
# provider; the identifiers that policies and the state machine are built from are pinned
# so the assertions can name them.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111122223333"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  # The provider validates ARN attributes that other resources take as arguments, so the
  # mocked values must look like ARNs.
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::111122223333:role/pgcdc-mock"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/pgcdc/mock"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_lambda_layer_version" {
    defaults = {
      arn = "arn:aws:lambda:eu-west-1:111122223333:layer:pgcdc-dependencies:1"
    }
  }
}

override_resource {
  target = aws_lambda_function.this["capture"]
  values = {
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:pgcdc-capture"
  }
}

override_resource {
  target = aws_lambda_function.this["transform"]
  values = {
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:pgcdc-transform"
  }
}

override_resource {
  target = aws_lambda_function.this["load"]
  values = {
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:pgcdc-load"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.lambda["capture"]
  values = {
    arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/pgcdc-capture"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.lambda["transform"]
  values = {
    arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/pgcdc-transform"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.lambda["load"]
  values = {
    arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/pgcdc-load"
  }
}

override_resource {
  target = aws_secretsmanager_secret.source
  values = {
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:pgcdc/source-AbCdEf"
  }
}

override_resource {
  target = aws_secretsmanager_secret.warehouse
  values = {
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:pgcdc/warehouse-GhIjKl"
  }
}

override_resource {
  target = aws_sns_topic.alerts
  values = {
    arn = "arn:aws:sns:eu-west-1:111122223333:pgcdc-alerts"
  }
}

override_resource {
  target = aws_sfn_state_machine.this
  values = {
    arn = "arn:aws:states:eu-west-1:111122223333:stateMachine:pgcdc-pipeline"
  }
}

variables {
  # filebase64sha256() needs an existing file; the mocked provider never reads it as a zip.
  package_path            = "main.tf"
  create_warehouse_secret = true
}

run "state_machine_runs_the_steps_with_retry_and_catch" {
  command = apply

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).StartAt == "Capture"
    error_message = "The pipeline must start with Capture."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Capture.Next == "Transform" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Transform.Next == "Load" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Load.End
    )
    error_message = "The steps must run Capture -> Transform -> Load."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Capture.Parameters.FunctionName == aws_lambda_function.this["capture"].arn &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Transform.Parameters.FunctionName == aws_lambda_function.this["transform"].arn &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Load.Parameters.FunctionName == aws_lambda_function.this["load"].arn
    )
    error_message = "Each Task must invoke its own function's ARN."
  }

  assert {
    condition = alltrue([
      for name, state in jsondecode(aws_sfn_state_machine.this.definition).States :
      state.TimeoutSeconds > 0 && length(state.Retry) > 0 && alltrue([
        for retrier in state.Retry :
        retrier.MaxAttempts >= 0 && retrier.BackoffRate == 2 && retrier.MaxDelaySeconds > 0 && retrier.IntervalSeconds >= 1
      ])
      if state.Type == "Task"
    ])
    error_message = "Every Task needs TimeoutSeconds and Retry entries with MaxAttempts, BackoffRate 2 and MaxDelaySeconds."
  }

  assert {
    condition = alltrue([
      for name in ["Capture", "Transform", "Load"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Retry[length(jsondecode(aws_sfn_state_machine.this.definition).States[name].Retry) - 1].ErrorEquals == ["States.ALL"] &&
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Retry[length(jsondecode(aws_sfn_state_machine.this.definition).States[name].Retry) - 1].MaxAttempts == 2 &&
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Retry[0].MaxAttempts == 0
    ])
    error_message = "Steps retry any error last (States.ALL, 2 attempts) and never retry terminal errors (first retrier, 0 attempts)."
  }

  assert {
    condition = alltrue([
      for name in ["Capture", "Transform", "Load"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].ErrorEquals == ["States.ALL"] &&
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].ResultPath == "$.error" &&
      jsondecode(aws_sfn_state_machine.this.definition).States[jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].Next].Type == "Pass" &&
      jsondecode(aws_sfn_state_machine.this.definition).States[jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].Next].Result == lower(name) &&
      jsondecode(aws_sfn_state_machine.this.definition).States[jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].Next].ResultPath == "$.failed_step" &&
      jsondecode(aws_sfn_state_machine.this.definition).States[jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].Next].Next == "NotifyFailure"
    ])
    error_message = "Each step's Catch (States.ALL, ResultPath $.error) must record the step name and go to NotifyFailure."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.NotifyFailure.Resource == "arn:aws:states:::sns:publish" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.NotifyFailure.Parameters.TopicArn == aws_sns_topic.alerts.arn &&
      strcontains(jsondecode(aws_sfn_state_machine.this.definition).States.NotifyFailure.Parameters["Message.$"], "$.failed_step") &&
      strcontains(jsondecode(aws_sfn_state_machine.this.definition).States.NotifyFailure.Parameters["Message.$"], "$.error.Error") &&
      jsondecode(aws_sfn_state_machine.this.definition).States.NotifyFailure.Next == "Failed" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.NotifyFailure.Catch[0].Next == "Failed" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Failed.Type == "Fail"
    )
    error_message = "NotifyFailure must publish the failed step and error to the alert topic, then end in the Fail state."
  }

  assert {
    condition = (
      aws_sfn_state_machine.this.logging_configuration[0].level == "ALL" &&
      aws_sfn_state_machine.this.logging_configuration[0].log_destination == "${aws_cloudwatch_log_group.state_machine.arn}:*"
    )
    error_message = "The state machine must log to its own log group."
  }

  assert {
    condition = (
      strcontains(aws_iam_role_policy.state_machine.policy, aws_lambda_function.this["capture"].arn) &&
      strcontains(aws_iam_role_policy.state_machine.policy, aws_lambda_function.this["load"].arn) &&
      strcontains(aws_iam_role_policy.state_machine.policy, aws_sns_topic.alerts.arn)
    )
    error_message = "The state machine role must be allowed to invoke the functions and publish to the topic."
  }
}

run "schedule_starts_the_state_machine_every_15_minutes_with_retries" {
  command = apply

  assert {
    condition     = aws_scheduler_schedule.this.schedule_expression == "rate(15 minutes)"
    error_message = "The default schedule is rate(15 minutes)."
  }

  assert {
    condition = (
      aws_scheduler_schedule.this.target[0].arn == aws_sfn_state_machine.this.arn &&
      aws_scheduler_schedule.this.target[0].retry_policy[0].maximum_retry_attempts == 3 &&
      aws_scheduler_schedule.this.target[0].retry_policy[0].maximum_event_age_in_seconds == 600
    )
    error_message = "The schedule must target the state machine with a retry policy."
  }

  assert {
    condition = (
      jsondecode(aws_iam_role_policy.scheduler.policy).Statement[0].Action == "states:StartExecution" &&
      jsondecode(aws_iam_role_policy.scheduler.policy).Statement[0].Resource == aws_sfn_state_machine.this.arn &&
      length(jsondecode(aws_iam_role_policy.scheduler.policy).Statement) == 1
    )
    error_message = "The scheduler role may start this state machine and nothing else."
  }
}

run "each_function_role_names_only_its_own_store_and_secret" {
  command = apply

  assert {
    condition = (
      strcontains(aws_iam_role_policy.lambda["capture"].policy, aws_secretsmanager_secret.source.arn) &&
      !strcontains(aws_iam_role_policy.lambda["capture"].policy, aws_secretsmanager_secret.warehouse[0].arn) &&
      strcontains(aws_iam_role_policy.lambda["capture"].policy, "arn:aws:s3:::pgcdc-raw-111122223333-eu-west-1/raw/*") &&
      !strcontains(aws_iam_role_policy.lambda["capture"].policy, "pgcdc-processed-")
    )
    error_message = "capture may read the source secret and the raw store only."
  }

  assert {
    condition = (
      !strcontains(aws_iam_role_policy.lambda["transform"].policy, "secretsmanager") &&
      strcontains(aws_iam_role_policy.lambda["transform"].policy, "arn:aws:s3:::pgcdc-raw-111122223333-eu-west-1/raw/*") &&
      strcontains(aws_iam_role_policy.lambda["transform"].policy, "arn:aws:s3:::pgcdc-processed-111122223333-eu-west-1/processed/*")
    )
    error_message = "transform reads the raw store, writes the processed store, and reads no secret."
  }

  assert {
    condition = (
      strcontains(aws_iam_role_policy.lambda["load"].policy, aws_secretsmanager_secret.warehouse[0].arn) &&
      !strcontains(aws_iam_role_policy.lambda["load"].policy, aws_secretsmanager_secret.source.arn) &&
      !strcontains(aws_iam_role_policy.lambda["load"].policy, "pgcdc-raw-")
    )
    error_message = "load reads the processed store and the warehouse secret only."
  }

  # Writes: capture only below raw/, transform only below processed/, load nowhere.
  assert {
    condition = (
      distinct(flatten([
        for st in jsondecode(aws_iam_role_policy.lambda["capture"].policy).Statement : st.Resource
        if contains(flatten([st.Action]), "s3:PutObject")
      ])) == tolist(["arn:aws:s3:::pgcdc-raw-111122223333-eu-west-1/raw/*"]) &&
      distinct(flatten([
        for st in jsondecode(aws_iam_role_policy.lambda["transform"].policy).Statement : st.Resource
        if contains(flatten([st.Action]), "s3:PutObject")
      ])) == tolist(["arn:aws:s3:::pgcdc-processed-111122223333-eu-west-1/processed/*"]) &&
      !strcontains(aws_iam_role_policy.lambda["load"].policy, "s3:PutObject")
    )
    error_message = "Each function may write only to its own store's prefix."
  }

  assert {
    condition = alltrue([
      for step in ["capture", "transform", "load"] : alltrue([
        for st in jsondecode(aws_iam_role_policy.lambda[step].policy).Statement :
        st.Resource != "*" || alltrue([for action in flatten([st.Action]) : startswith(action, "xray:")])
      ])
    ])
    error_message = "Only X-Ray actions, which have no resource-level permissions, may use Resource \"*\"."
  }

  assert {
    condition = alltrue([
      for step in ["capture", "transform", "load"] :
      strcontains(aws_iam_role_policy.lambda[step].policy, "${aws_cloudwatch_log_group.lambda[step].arn}:*") &&
      aws_iam_role_policy.lambda[step].role == aws_iam_role.lambda[step].id
    ])
    error_message = "Each role writes to its own function's log group."
  }
}

run "functions_settings_logs_and_alarms" {
  command = apply

  assert {
    condition = (
      aws_lambda_function.this["capture"].handler == "pgcdc.pipeline.handlers.capture_handler" &&
      aws_lambda_function.this["transform"].handler == "pgcdc.pipeline.handlers.transform_handler" &&
      aws_lambda_function.this["load"].handler == "pgcdc.pipeline.handlers.load_handler" &&
      alltrue([for fn in aws_lambda_function.this : fn.runtime == "python3.12" && one(fn.architectures) == "x86_64"]) &&
      aws_lambda_function.this["capture"].timeout == 900
    )
    error_message = "Handlers, runtime, architecture or the capture timeout are wrong."
  }

  assert {
    condition = (
      aws_lambda_function.this["capture"].environment[0].variables.PGCDC_RAW_URI == "s3://pgcdc-raw-111122223333-eu-west-1/raw" &&
      aws_lambda_function.this["capture"].environment[0].variables.PGCDC_PROCESSED_URI == "s3://pgcdc-processed-111122223333-eu-west-1/processed" &&
      aws_lambda_function.this["capture"].environment[0].variables.PGCDC_SLOT == "pgcdc" &&
      alltrue([for fn in aws_lambda_function.this : fn.environment[0].variables.PGCDC_METRIC_NAMESPACE == "pgcdc"]) &&
      aws_lambda_function.this["capture"].environment[0].variables.PGCDC_SOURCE_SECRET_ID == aws_secretsmanager_secret.source.arn &&
      !contains(keys(aws_lambda_function.this["transform"].environment[0].variables), "PGCDC_SOURCE_SECRET_ID") &&
      aws_lambda_function.this["load"].environment[0].variables.PGCDC_WAREHOUSE_SECRET_ID == aws_secretsmanager_secret.warehouse[0].arn
    )
    error_message = "The functions' environment does not match the settings pgcdc reads."
  }

  assert {
    condition = (
      alltrue([for lg in aws_cloudwatch_log_group.lambda : lg.retention_in_days == 30]) &&
      aws_cloudwatch_log_group.state_machine.retention_in_days == 30 &&
      aws_cloudwatch_log_group.lambda["capture"].name == "/aws/lambda/pgcdc-capture"
    )
    error_message = "Every log group keeps its logs for log_retention_days (30)."
  }

  assert {
    condition = (
      aws_cloudwatch_log_metric_filter.this["capture-errors"].pattern == "{ $.level = \"ERROR\" }" &&
      aws_cloudwatch_log_metric_filter.this["capture-errors"].metric_transformation[0].name == "CaptureErrors" &&
      aws_cloudwatch_log_metric_filter.this["load-errors"].pattern == "{ $.level = \"ERROR\" }" &&
      length(aws_cloudwatch_log_metric_filter.this) == 3
    )
    error_message = "One metric filter a function, counting its ERROR lines (the figures come as EMF)."
  }

  assert {
    condition = (
      alltrue([for alarm in aws_cloudwatch_metric_alarm.logs : alarm.alarm_actions == toset([aws_sns_topic.alerts.arn])]) &&
      aws_cloudwatch_metric_alarm.executions_failed.dimensions.StateMachineArn == aws_sfn_state_machine.this.arn &&
      aws_cloudwatch_metric_alarm.executions_failed.metric_name == "ExecutionsFailed" &&
      length(aws_cloudwatch_metric_alarm.logs) == 5
    )
    error_message = "Every alarm must notify the alert topic; one watches failed executions."
  }

  assert {
    condition = (
      alltrue([for v in aws_s3_bucket_versioning.this : v.versioning_configuration[0].status == "Enabled"]) &&
      alltrue([for p in aws_s3_bucket_public_access_block.this : p.block_public_acls && p.block_public_policy && p.ignore_public_acls && p.restrict_public_buckets]) &&
      alltrue([for e in aws_s3_bucket_server_side_encryption_configuration.this : one(e.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"]) &&
      alltrue([for p in aws_s3_bucket_policy.tls_only : jsondecode(p.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"])
    )
    error_message = "Both buckets need versioning, encryption, a public access block and a TLS-only policy."
  }

  assert {
    condition     = aws_sns_topic.alerts.kms_master_key_id == aws_kms_key.alerts[0].arn && length(aws_sns_topic_subscription.email) == 0
    error_message = "The topic is encrypted with the module's key; no address, no subscription."
  }
}

run "without_warehouse_secret_or_tracing" {
  command = apply

  variables {
    create_warehouse_secret = false
    tracing_enabled         = false
    alert_emails            = ["ops@example.com"]
  }

  assert {
    condition = (
      !strcontains(aws_iam_role_policy.lambda["load"].policy, "secretsmanager") &&
      !contains(keys(aws_lambda_function.this["load"].environment[0].variables), "PGCDC_WAREHOUSE_SECRET_ID") &&
      length(aws_secretsmanager_secret.warehouse) == 0
    )
    error_message = "Without a warehouse secret, load reads no secret."
  }

  assert {
    condition = alltrue([
      for step in ["capture", "transform", "load"] : !strcontains(aws_iam_role_policy.lambda[step].policy, "\"*\"")
    ])
    error_message = "Without tracing, no function policy has a wildcard resource."
  }

  assert {
    condition     = aws_sns_topic_subscription.email["ops@example.com"].protocol == "email"
    error_message = "An address gets an e-mail subscription."
  }
}

run "customer_managed_key_reaches_every_store" {
  command = apply

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition = (
      length(aws_kms_key.alerts) == 0 &&
      aws_sns_topic.alerts.kms_master_key_id == var.kms_key_arn &&
      alltrue([for e in aws_s3_bucket_server_side_encryption_configuration.this : one(e.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == var.kms_key_arn]) &&
      aws_secretsmanager_secret.source.kms_key_id == var.kms_key_arn &&
      alltrue([for step in ["capture", "transform", "load"] : strcontains(aws_iam_role_policy.lambda[step].policy, var.kms_key_arn)])
    )
    error_message = "A customer managed key must encrypt the buckets, secrets and topic, and the roles must be allowed to use it."
  }
}

run "rejects_a_bad_name" {
  command = plan

  variables {
    name = "PgCdc_Prod"
  }

  expect_failures = [var.name]
}
