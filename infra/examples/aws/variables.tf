variable "region" {
  description = "AWS region of the pipeline (best the source database's)."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Resource name prefix (see the module's variable of the same name)."
  type        = string
  default     = "pgcdc"
}

variable "package_path" {
  description = "Path of the zip with pgcdc's code, built by the packaging script."
  type        = string
}

variable "layer_zip_path" {
  description = "Path of the dependencies layer zip (python/... for the functions' runtime and architecture), or null when package_path holds everything."
  type        = string
  default     = null
}

variable "slot_name" {
  description = "Logical replication slot created by `pgcdc snapshot` on the source."
  type        = string
  default     = "pgcdc"
}

variable "tables" {
  description = "PGCDC_TABLES: comma-separated schema.table patterns to capture; empty captures every table."
  type        = string
  default     = ""
}

variable "alert_emails" {
  description = "Addresses that receive failure and alarm notifications."
  type        = list(string)
  default     = []
}

variable "vpc_subnet_ids" {
  description = "Private subnets from which the functions reach the databases (empty: no VPC)."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups of the functions inside the VPC."
  type        = list(string)
  default     = []
}
