/**
 * pgcdc on AWS: raw and processed S3 stores, the capture, transform and load Lambda
 * functions, a Step Functions state machine that runs them in order on an EventBridge
 * schedule, an SNS alert topic, and CloudWatch metric filters and alarms on the JSON logs.
 * Files: storage.tf (buckets), secrets.tf, iam.tf (one role per function, state machine,
 * scheduler), lambda.tf, orchestration.tf (state machine, schedule), monitoring.tf.
 */

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  raw_bucket       = coalesce(var.raw_bucket_name, "${var.name}-raw-${local.account_id}-${local.region}")
  processed_bucket = coalesce(var.processed_bucket_name, "${var.name}-processed-${local.account_id}-${local.region}")
  raw_bucket_arn   = "arn:${local.partition}:s3:::${local.raw_bucket}"
  proc_bucket_arn  = "arn:${local.partition}:s3:::${local.processed_bucket}"
  raw_uri          = "s3://${local.raw_bucket}/${var.raw_prefix}"
  processed_uri    = "s3://${local.processed_bucket}/${var.processed_prefix}"

  # The three pipeline steps, in the order the state machine runs them.
  steps = ["capture", "transform", "load"]

  functions = {
    capture = {
      handler     = "pgcdc.pipeline.handlers.capture_handler"
      timeout     = var.capture_timeout
      memory_size = var.capture_memory_size
      description = "pgcdc capture: logical slot -> Parquet raw store"
    }
    transform = {
      handler     = "pgcdc.pipeline.handlers.transform_handler"
      timeout     = var.transform_timeout
      memory_size = var.transform_memory_size
      description = "pgcdc transform: raw store -> DuckDB -> processed store"
    }
    load = {
      handler     = "pgcdc.pipeline.handlers.load_handler"
      timeout     = var.load_timeout
      memory_size = var.load_memory_size
      description = "pgcdc load: processed store -> warehouse"
    }
  }

  function_names = { for step in local.steps : step => "${var.name}-${step}" }

  # Each function gets only the secret it may read (see iam.tf): capture the source,
  # load the warehouse.
  common_environment = merge(
    {
      PGCDC_RAW_URI       = local.raw_uri
      PGCDC_PROCESSED_URI = local.processed_uri
      PGCDC_SLOT          = var.slot_name
      # The namespace of the EMF metrics the handlers print (pgcdc/pipeline/emf.py): the one the
      # alarms in monitoring.tf read.
      PGCDC_METRIC_NAMESPACE = var.metric_namespace
    },
    var.warehouse_uri == "" ? {} : { PGCDC_WAREHOUSE_URI = var.warehouse_uri },
  )
  step_environment = {
    capture   = { PGCDC_SOURCE_SECRET_ID = aws_secretsmanager_secret.source.arn }
    transform = {}
    load      = var.create_warehouse_secret ? { PGCDC_WAREHOUSE_SECRET_ID = aws_secretsmanager_secret.warehouse[0].arn } : {}
  }

  # The alert topic needs a customer managed key: the key policy of the AWS managed key
  # aws/sns cannot let CloudWatch alarms publish to an encrypted topic.
  alerts_kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.alerts[0].arn
}
