################################################################################
# Naming
################################################################################

variable "name" {
  description = "Prefix of every resource name (functions, roles, buckets, secrets, topic). Lower-case letters, digits and hyphens."
  type        = string
  default     = "pgcdc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.name))
    error_message = "name must start with a letter and hold 1-24 lower-case letters, digits or hyphens (it ends up in bucket and role names)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

################################################################################
# Storage
################################################################################

variable "raw_bucket_name" {
  description = "Name of the raw-store bucket. Null derives `<name>-raw-<account id>-<region>`."
  type        = string
  default     = null
}

variable "processed_bucket_name" {
  description = "Name of the processed-store bucket. Null derives `<name>-processed-<account id>-<region>`."
  type        = string
  default     = null
}

variable "raw_prefix" {
  description = "Key prefix of the raw store inside its bucket (PGCDC_RAW_URI is s3://<raw bucket>/<raw_prefix>). The capture role may write only below it."
  type        = string
  default     = "raw"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.raw_prefix))
    error_message = "raw_prefix must be a non-empty key prefix without leading or trailing slashes."
  }
}

variable "processed_prefix" {
  description = "Key prefix of the processed store inside its bucket (PGCDC_PROCESSED_URI is s3://<processed bucket>/<processed_prefix>)."
  type        = string
  default     = "processed"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.processed_prefix))
    error_message = "processed_prefix must be a non-empty key prefix without leading or trailing slashes."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets with every object version in them. Keep false for real data."
  type        = bool
  default     = false
}

variable "s3_sse_algorithm" {
  description = "Default encryption of both buckets: `aws:kms` (kms_key_arn, or the AWS managed key aws/s3 when that is null) or `AES256` (SSE-S3)."
  type        = string
  default     = "aws:kms"

  validation {
    condition     = contains(["aws:kms", "AES256"], var.s3_sse_algorithm)
    error_message = "s3_sse_algorithm must be aws:kms or AES256."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the buckets (with aws:kms), the secrets, the log groups and the SNS topic. Its key policy must let CloudWatch Logs and CloudWatch alarms use it. Null: AWS managed keys for S3 and Secrets Manager, CloudWatch's own encryption for logs, and a key this module creates for the topic."
  type        = string
  default     = null
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which an unfinished multipart upload is aborted (its parts cost storage while invisible)."
  type        = number
  default     = 7
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept before it expires. Null keeps every version."
  type        = number
  default     = 90
}

variable "transition_days" {
  description = "Days after which current objects move to transition_storage_class. Null: no transition."
  type        = number
  default     = null
}

variable "transition_storage_class" {
  description = "Storage class for the optional transition (STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR, ...)."
  type        = string
  default     = "INTELLIGENT_TIERING"
}

################################################################################
# Secrets
################################################################################

variable "source_secret_name" {
  description = "Name of the Secrets Manager secret with the source database credentials (JSON: host, port, username, password, dbname). Null: `<name>/source`."
  type        = string
  default     = null
}

variable "source_secret_string" {
  description = "Value of the source secret. Leave null in real deployments: set the value with the AWS CLI so it never enters Terraform state. Meant for tests."
  type        = string
  default     = null
  sensitive   = true
}

variable "create_warehouse_secret" {
  description = "Create a secret for a PostgreSQL warehouse (same JSON keys as the source secret); the load function then reads it through PGCDC_WAREHOUSE_SECRET_ID."
  type        = bool
  default     = false
}

variable "warehouse_secret_name" {
  description = "Name of the warehouse secret. Null: `<name>/warehouse`."
  type        = string
  default     = null
}

variable "warehouse_secret_string" {
  description = "Value of the warehouse secret. Leave null in real deployments (set it with the AWS CLI). Meant for tests."
  type        = string
  default     = null
  sensitive   = true
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once, otherwise 7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

################################################################################
# Lambda functions
################################################################################

variable "package_path" {
  description = "Path of the zip with the pgcdc code (the `pipeline` package and the stage packages). Its hash decides when the functions are updated."
  type        = string
}

variable "layer_zip_path" {
  description = "Path of an optional layer zip with the dependencies (pyarrow, duckdb, psycopg, ...), laid out as python/... . Null: no layer of the module's own."
  type        = string
  default     = null
}

variable "layer_arns" {
  description = "ARNs of existing layers added to every function, after the module's own layer."
  type        = list(string)
  default     = []
}

variable "runtime" {
  description = "Lambda runtime of the three functions."
  type        = string
  default     = "python3.12"
}

variable "architecture" {
  description = "Instruction set of the functions (the package and layer must be built for it)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "capture_timeout" {
  description = "Timeout of the capture function in seconds (Lambda's maximum, 900, lets a capture drain a backlog)."
  type        = number
  default     = 900

  validation {
    condition     = var.capture_timeout >= 1 && var.capture_timeout <= 900
    error_message = "capture_timeout must be between 1 and 900 seconds."
  }
}

variable "capture_memory_size" {
  description = "Memory of the capture function in MB (also scales its CPU)."
  type        = number
  default     = 1024
}

variable "transform_timeout" {
  description = "Timeout of the transform function in seconds."
  type        = number
  default     = 900

  validation {
    condition     = var.transform_timeout >= 1 && var.transform_timeout <= 900
    error_message = "transform_timeout must be between 1 and 900 seconds."
  }
}

variable "transform_memory_size" {
  description = "Memory of the transform function in MB (DuckDB uses most of it)."
  type        = number
  default     = 2048
}

variable "load_timeout" {
  description = "Timeout of the load function in seconds."
  type        = number
  default     = 600

  validation {
    condition     = var.load_timeout >= 1 && var.load_timeout <= 900
    error_message = "load_timeout must be between 1 and 900 seconds."
  }
}

variable "load_memory_size" {
  description = "Memory of the load function in MB."
  type        = number
  default     = 1024
}

variable "ephemeral_storage_size" {
  description = "Size of /tmp of each function in MB (DuckDB spills there)."
  type        = number
  default     = 2048

  validation {
    condition     = var.ephemeral_storage_size >= 512 && var.ephemeral_storage_size <= 10240
    error_message = "ephemeral_storage_size must be between 512 and 10240 MB."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of each function. 1 keeps two runs from capturing from the slot (or writing the same batch) at once; -1 removes the reservation (needed in accounts whose concurrency limit leaves nothing to reserve)."
  type        = number
  default     = 1

  validation {
    condition     = var.reserved_concurrency == -1 || var.reserved_concurrency >= 0
    error_message = "reserved_concurrency must be -1 (no reservation) or a number >= 0."
  }
}

variable "warehouse_uri" {
  description = "PGCDC_WAREHOUSE_URI of the load function (a postgresql:// URI without password, or empty when the warehouse secret gives the connection)."
  type        = string
  default     = ""
}

variable "slot_name" {
  description = "PGCDC_SLOT: the logical replication slot the capture function reads."
  type        = string
  default     = "pgcdc"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,63}$", var.slot_name))
    error_message = "slot_name must be 1-63 lower-case letters, digits or underscores (Postgres' rule for slot names)."
  }
}

variable "environment" {
  description = "Extra environment variables of every function (e.g. PGCDC_TABLES, PGCDC_S3_ENDPOINT_URL). They win over the module's own."
  type        = map(string)
  default     = {}
}

variable "vpc_subnet_ids" {
  description = "Subnets for the functions when the databases are only reachable inside a VPC (the subnets need a route to S3, Secrets Manager and the databases). Empty: no VPC."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups of the functions when vpc_subnet_ids is set."
  type        = list(string)
  default     = []
}

variable "tracing_enabled" {
  description = "X-Ray tracing of the functions (Active) and of the state machine."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of every log group (the three functions and the state machine), in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

################################################################################
# Orchestration
################################################################################

variable "schedule_expression" {
  description = "When the pipeline runs: an EventBridge Scheduler expression (rate(...), cron(...))."
  type        = string
  default     = "rate(15 minutes)"
}

variable "schedule_timezone" {
  description = "Time zone of cron() schedule expressions."
  type        = string
  default     = "UTC"
}

variable "schedule_enabled" {
  description = "Whether the schedule starts executions (false pauses the pipeline without destroying anything)."
  type        = bool
  default     = true
}

variable "schedule_max_retry_attempts" {
  description = "How often EventBridge Scheduler retries a failed StartExecution (0-185)."
  type        = number
  default     = 3

  validation {
    condition     = var.schedule_max_retry_attempts >= 0 && var.schedule_max_retry_attempts <= 185
    error_message = "schedule_max_retry_attempts must be between 0 and 185."
  }
}

variable "schedule_max_event_age_seconds" {
  description = "How long EventBridge Scheduler keeps retrying a start, in seconds (60-86400). Below the schedule period, so a late start never overlaps the next one."
  type        = number
  default     = 600

  validation {
    condition     = var.schedule_max_event_age_seconds >= 60 && var.schedule_max_event_age_seconds <= 86400
    error_message = "schedule_max_event_age_seconds must be between 60 and 86400."
  }
}

variable "terminal_errors" {
  description = "Lambda error types (exception class names) that the state machine never retries: retrying cannot fix them. Names match exactly, so every subclass of pgcdc's TerminalError is listed (tests/unit/test_permanent_errors.py compares them)."
  type        = list(string)
  default     = ["TerminalError", "ConfigurationError", "SourceError", "DecodeError", "SpecMismatchError", "StorageDeniedError", "QueryError"]

  validation {
    condition     = length(var.terminal_errors) > 0
    error_message = "terminal_errors needs at least one error name (an empty ErrorEquals is invalid ASL)."
  }
}

variable "task_retry_attempts" {
  description = "Retries of a failed step for any other error (pgcdc's steps are idempotent, so a retry rewrites the same objects)."
  type        = number
  default     = 2

  validation {
    condition     = var.task_retry_attempts >= 0 && var.task_retry_attempts == floor(var.task_retry_attempts)
    error_message = "task_retry_attempts must be a whole number >= 0."
  }
}

variable "task_retry_interval_seconds" {
  description = "Wait before the first retry of a failed step, in seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.task_retry_interval_seconds >= 1
    error_message = "task_retry_interval_seconds must be at least 1."
  }
}

variable "lambda_service_retry_attempts" {
  description = "Retries of a step when the Lambda service itself fails or throttles (Lambda.ServiceException, Lambda.TooManyRequestsException, ...)."
  type        = number
  default     = 6

  validation {
    condition     = var.lambda_service_retry_attempts >= 0 && var.lambda_service_retry_attempts == floor(var.lambda_service_retry_attempts)
    error_message = "lambda_service_retry_attempts must be a whole number >= 0."
  }
}

variable "retry_max_delay_seconds" {
  description = "Cap of the exponential backoff (BackoffRate 2) between retries, in seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.retry_max_delay_seconds >= 1
    error_message = "retry_max_delay_seconds must be at least 1."
  }
}

variable "state_machine_log_level" {
  description = "Execution logging of the state machine: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.state_machine_log_level)
    error_message = "state_machine_log_level must be ALL, ERROR, FATAL or OFF."
  }
}

################################################################################
# Monitoring
################################################################################

variable "alert_emails" {
  description = "E-mail addresses subscribed to the alert topic (each must confirm the subscription from the mail AWS sends)."
  type        = list(string)
  default     = []
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the metrics taken from the functions' JSON logs."
  type        = string
  default     = "pgcdc"
}

variable "alarm_period_seconds" {
  description = "Period over which every alarm aggregates its metric, in seconds."
  type        = number
  default     = 900
}

variable "alarm_evaluation_periods" {
  description = "Consecutive periods a metric must breach before its alarm fires."
  type        = number
  default     = 1
}

variable "error_alarm_threshold" {
  description = "ERROR log lines of one function within a period that raise its alarm."
  type        = number
  default     = 1
}

variable "slot_lag_alarm_threshold_bytes" {
  description = "Replication slot lag (WAL retained for the slot, the `SlotLagBytes` metric) that raises the alarm, in bytes."
  type        = number
  default     = 1073741824
}

variable "freshness_alarm_threshold_seconds" {
  description = "Age of the newest data in the warehouse (`freshness_seconds`) that raises the alarm, in seconds."
  type        = number
  default     = 3600
}

variable "freshness_missing_data" {
  description = "How the freshness alarm treats periods without a freshness metric: `breaching` (a pipeline that stops reporting is stale) or `missing`, `ignore`, `notBreaching`."
  type        = string
  default     = "breaching"

  validation {
    condition     = contains(["breaching", "notBreaching", "ignore", "missing"], var.freshness_missing_data)
    error_message = "freshness_missing_data must be breaching, notBreaching, ignore or missing."
  }
}
