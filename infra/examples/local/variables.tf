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

variable "alert_emails" {
  description = "Addresses subscribed to the alert topic."
  type        = list(string)
  default     = ["alerts@example.com"]
}
