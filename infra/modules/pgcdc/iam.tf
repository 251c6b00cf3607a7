################################################################################
# One role per function, each allowed only what its step does; the state machine's
# role; the scheduler's role.
#
# Policies are plain jsonencode() documents (not aws_iam_policy_document data sources) so
# `terraform test` with a mocked provider can read and check them.
################################################################################

locals {
  lambda_log_group_arns = { for step, lg in aws_cloudwatch_log_group.lambda : step => lg.arn }

  # Listing is allowed on the whole (dedicated) bucket: HeadBucket, which pyarrow calls,
  # is authorised by s3:ListBucket and carries no prefix to match a condition against.
  # Object access stays below the store's prefix.
  raw_list = {
    Sid      = "ListRawStore"
    Effect   = "Allow"
    Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
    Resource = local.raw_bucket_arn
  }
  raw_read = {
    Sid      = "ReadRawStore"
    Effect   = "Allow"
    Action   = ["s3:GetObject"]
    Resource = "${local.raw_bucket_arn}/${var.raw_prefix}/*"
  }
  raw_read_write = {
    Sid      = "ReadWriteRawStore"
    Effect   = "Allow"
    Action   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    Resource = "${local.raw_bucket_arn}/${var.raw_prefix}/*"
  }
  processed_list = {
    Sid      = "ListProcessedStore"
    Effect   = "Allow"
    Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
    Resource = local.proc_bucket_arn
  }
  processed_read = {
    Sid      = "ReadProcessedStore"
    Effect   = "Allow"
    Action   = ["s3:GetObject"]
    Resource = "${local.proc_bucket_arn}/${var.processed_prefix}/*"
  }
  processed_read_write = {
    Sid      = "ReadWriteProcessedStore"
    Effect   = "Allow"
    Action   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    Resource = "${local.proc_bucket_arn}/${var.processed_prefix}/*"
  }

  # Needed only with a customer managed key: AWS managed keys authorise every principal of
  # the account that the calling service (S3, Secrets Manager) lets through.
  kms_statements = var.kms_key_arn == null ? [] : [{
    Sid      = "UseDataKeys"
    Effect   = "Allow"
    Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
    Resource = var.kms_key_arn
  }]

  # X-Ray actions have no resource-level permissions.
  xray_statements = var.tracing_enabled ? [{
    Sid      = "WriteTraces"
    Effect   = "Allow"
    Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    Resource = "*"
  }] : []

  lambda_statements = {
    capture = concat(
      [
        local.raw_list,
        local.raw_read_write,
        {
          Sid      = "ReadSourceSecret"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
          Resource = aws_secretsmanager_secret.source.arn
        },
      ],
      local.kms_statements,
    )
    transform = concat(
      [
        local.raw_list,
        local.raw_read,
        local.processed_list,
        local.processed_read_write,
      ],
      local.kms_statements,
    )
    load = concat(
      [
        local.processed_list,
        local.processed_read,
      ],
      var.create_warehouse_secret ? [{
        Sid      = "ReadWarehouseSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = aws_secretsmanager_secret.warehouse[0].arn
      }] : [],
      local.kms_statements,
    )
  }

  lambda_policies = {
    for step in local.steps : step => jsonencode({
      Version = "2012-10-17"
      Statement = concat(
        [{
          Sid      = "WriteOwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${local.lambda_log_group_arns[step]}:*"
        }],
        local.lambda_statements[step],
        local.xray_statements,
      )
    })
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.functions

  name        = "${var.name}-${each.key}"
  description = "pgcdc ${each.key} function"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "lambda" {
  for_each = aws_iam_role.lambda

  name   = "${var.name}-${each.key}"
  role   = each.value.id
  policy = local.lambda_policies[each.key]
}

# ENI management in a VPC has no resource-level permissions; AWS's managed policy for it.
resource "aws_iam_role_policy_attachment" "lambda_vpc" {
  for_each = length(var.vpc_subnet_ids) > 0 ? aws_iam_role.lambda : {}

  role       = each.value.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

################################################################################
# State machine role
################################################################################

locals {
  state_machine_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "InvokeSteps"
          Effect   = "Allow"
          Action   = "lambda:InvokeFunction"
          Resource = flatten([for fn in aws_lambda_function.this : [fn.arn, "${fn.arn}:*"]])
        },
        {
          Sid      = "PublishAlerts"
          Effect   = "Allow"
          Action   = "sns:Publish"
          Resource = aws_sns_topic.alerts.arn
        },
        {
          Sid      = "EncryptAlerts"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey*"]
          Resource = local.alerts_kms_key_arn
        },
        {
          # Log delivery of Step Functions is configured through these account-level
          # actions, which take no resource ARN.
          Sid    = "DeliverExecutionLogs"
          Effect = "Allow"
          Action = [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
          ]
          Resource = "*"
        },
      ],
      var.tracing_enabled ? [{
        Sid      = "WriteTraces"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
        Resource = "*"
      }] : [],
    )
  })
}

resource "aws_iam_role" "state_machine" {
  name        = "${var.name}-state-machine"
  description = "pgcdc state machine: invokes the steps, publishes failures"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "${var.name}-state-machine"
  role   = aws_iam_role.state_machine.id
  policy = local.state_machine_policy
}

################################################################################
# Scheduler role: may start this state machine and nothing else
################################################################################

resource "aws_iam_role" "scheduler" {
  name        = "${var.name}-scheduler"
  description = "pgcdc schedule: starts the state machine"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name = "${var.name}-scheduler"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StartPipeline"
      Effect   = "Allow"
      Action   = "states:StartExecution"
      Resource = aws_sfn_state_machine.this.arn
    }]
  })
}
