variable "endpoint_url" {
  description = "URL of the AWS emulator (moto server or LocalStack) that every service points at."
  type        = string
  default     = "http://127.0.0.1:5000"
}

variable "sfn_endpoint_url" {
  description = "URL for Step Functions only, when it differs from endpoint_url. The AWS provider validates a state machine definition with ValidateStateMachineDefinition, which moto does not implement; the tests put a small shim that answers that one call in front of moto here. Null: endpoint_url."
  type        = string
  default     = null
}

variable "region" {
  description = "Region the emulator pretends to be."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Resource name prefix (see the module's variable of the same name)."
  type        = string
  default     = "pgcdc-local"
}

variable "package_path" {
  description = "Path of the functions' zip (the emulator stores it; nothing runs it here)."
  type        = string
}

variable "source_secret_string" {
  description = "Source credentials stored in the emulator's secret (JSON: host, port, username, password, dbname). Null leaves the secret without a value."
  type        = string
  default     = null
  sensitive   = true
}

variable "warehouse_secret_string" {
  description = "Warehouse credentials stored in the emulator's secret (same JSON keys as the source secret). Null leaves the secret without a value."
  type        = string
  default     = null
  sensitive   = true
}

variable "slot_name" {
  description = "Replication slot the capture function reads (PGCDC_SLOT)."
  type        = string
  default     = "pgcdc"
}

variable "task_retry_attempts" {
  description = "Retries of a failed step for errors other than pgcdc's terminal ones."
  type        = number
  default     = 2
}

variable "task_retry_interval_seconds" {
  description = "Wait before the first retry of a failed step, in seconds."
  type        = number
  default     = 30
}

variable "retry_max_delay_seconds" {
  description = "Cap of the backoff between retries, in seconds."
  type        = number
  default     = 300
}

variable "alert_emails" {
  description = "Addresses subscribed to the alert topic."
  type        = list(string)
  default     = ["alerts@example.com"]
}
