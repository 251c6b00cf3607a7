################################################################################
# Capture, transform and load functions, each with its own role and log group
################################################################################

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.function_names
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days): operational logs, not an audit trail.

  # The name Lambda writes to, created here first so retention and metric filters apply
  # from the first invocation.
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_lambda_layer_version" "dependencies" {
  count = var.layer_zip_path == null ? 0 : 1

  layer_name               = "${var.name}-dependencies"
  description              = "pgcdc dependencies (pyarrow, duckdb, psycopg, ...)"
  filename                 = var.layer_zip_path
  source_code_hash         = filebase64sha256(var.layer_zip_path)
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]
}

resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_116:The state machine invokes the functions synchronously and handles failures with Retry/Catch and an SNS alert; a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_173:The environment holds only bucket URIs, a slot name and secret ARNs, no secret values; Lambda encrypts it at rest with an AWS managed key.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and a signed-package pipeline that this project does not run; the package hash is pinned by source_code_hash.

  function_name    = local.function_names[each.key]
  description      = each.value.description
  role             = aws_iam_role.lambda[each.key].arn
  handler          = each.value.handler
  runtime          = var.runtime
  architectures    = [var.architecture]
  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)
  layers           = concat(aws_lambda_layer_version.dependencies[*].arn, var.layer_arns)

  timeout                        = each.value.timeout
  memory_size                    = each.value.memory_size
  reserved_concurrent_executions = var.reserved_concurrency

  ephemeral_storage {
    size = var.ephemeral_storage_size
  }

  environment {
    variables = merge(local.common_environment, local.step_environment[each.key], var.environment)
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  dynamic "vpc_config" {
    for_each = length(var.vpc_subnet_ids) > 0 ? [1] : []

    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  tags = merge(var.tags, { "pgcdc:step" = each.key })

  # The role must be able to write logs, and the log group must exist (with its retention)
  # before the first invocation.
  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
    aws_iam_role_policy_attachment.lambda_vpc,
  ]
}
