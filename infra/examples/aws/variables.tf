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
  description = "Path of the zip with pgcdc's code. Null: dist/lambda/pgcdc.zip, as `make package` (infra/package.py) writes it."
  type        = string
  default     = null
}

variable "layer_zip_path" {
  description = "Path of the dependencies layer zip (python/... for python3.12 on x86_64). Null: dist/lambda/dependencies.zip from `make package`; \"\" deploys no layer of this configuration's own (package_path or layer_arns must then hold the dependencies)."
  type        = string
  default     = null
}

variable "artifact_bucket" {
  description = "Existing S3 bucket (in var.region) through which the layer zip is published: Lambda takes a zip over 50 MB only from S3, and the layer `make package` builds is ~72 MiB. Null: the module uploads the layer directly, which works only for a layer zip under 50 MB."
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
