################################################################################
# Step Functions: capture -> transform -> load, with Retry, Catch and an SNS alert
################################################################################

locals {
  # Shared by the three Task states. Order matters: the first retrier whose ErrorEquals
  # matches wins, and States.ALL must come last.
  task_retry = [
    {
      # pgcdc's terminal errors (bad credentials, missing privilege, malformed data):
      # retrying cannot help, so fail fast and alert.
      ErrorEquals     = var.terminal_errors
      IntervalSeconds = 1
      MaxAttempts     = 0
      BackoffRate     = 2
      MaxDelaySeconds = 1
    },
    {
      ErrorEquals = [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
      ]
      IntervalSeconds = 2
      MaxAttempts     = var.lambda_service_retry_attempts
      BackoffRate     = 2
      MaxDelaySeconds = var.retry_max_delay_seconds
      JitterStrategy  = "FULL"
    },
    {
      # Everything else, including a function timeout (Sandbox.Timedout) and
      # States.TaskFailed: every step is idempotent, so a retry is safe.
      ErrorEquals     = ["States.ALL"]
      IntervalSeconds = var.task_retry_interval_seconds
      MaxAttempts     = var.task_retry_attempts
      BackoffRate     = 2
      MaxDelaySeconds = var.retry_max_delay_seconds
      JitterStrategy  = "FULL"
    },
  ]

  # A Task waits a little longer than its function may run, so the function's own timeout
  # (a clear Sandbox.Timedout error) is what the Catch sees.
  task_timeout_margin = 30

  state_machine_definition = templatefile("${path.module}/state_machine.asl.json", {
    name              = var.name
    partition         = local.partition
    capture_arn       = aws_lambda_function.this["capture"].arn
    transform_arn     = aws_lambda_function.this["transform"].arn
    load_arn          = aws_lambda_function.this["load"].arn
    capture_timeout   = var.capture_timeout + local.task_timeout_margin
    transform_timeout = var.transform_timeout + local.task_timeout_margin
    load_timeout      = var.load_timeout + local.task_timeout_margin
    topic_arn         = aws_sns_topic.alerts.arn
    retry             = jsonencode(local.task_retry)
  })
}

resource "aws_cloudwatch_log_group" "state_machine" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days): operational logs, not an audit trail.

  # The /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy that Step
  # Functions writes from growing with every log group.
  name              = "/aws/vendedlogs/states/${var.name}-pipeline"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_sfn_state_machine" "this" {
  name       = "${var.name}-pipeline"
  role_arn   = aws_iam_role.state_machine.arn
  type       = "STANDARD"
  definition = local.state_machine_definition

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = var.state_machine_log_level
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  # The role must be allowed to deliver logs before Step Functions checks the log group.
  depends_on = [aws_iam_role_policy.state_machine]
}

################################################################################
# EventBridge Scheduler: start the state machine on a schedule, with retries
################################################################################

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:The schedule's target input is an empty JSON object; there is nothing to protect with a customer managed key.
  name                         = "${var.name}-pipeline"
  group_name                   = "default"
  description                  = "Starts the pgcdc pipeline (capture -> transform -> load)"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.schedule_enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.this.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = var.schedule_max_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }
  }
}
