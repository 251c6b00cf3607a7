################################################################################
# Database credentials
#
# The module creates the secrets, not their values: set a value with
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string file://source.json
# so the password never enters Terraform state. The *_secret_string variables exist for
# tests against an emulator.
################################################################################

resource "aws_secretsmanager_secret" "source" {
  #checkov:skip=CKV2_AWS_57:Rotating a replication user's password needs a rotation function that knows the source database; the owner of that database runs it.
  name                    = coalesce(var.source_secret_name, "${var.name}/source")
  description             = "pgcdc source PostgreSQL: JSON with host, port, username, password, dbname"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "source" {
  count = nonsensitive(var.source_secret_string != null) ? 1 : 0

  secret_id     = aws_secretsmanager_secret.source.id
  secret_string = var.source_secret_string
}

resource "aws_secretsmanager_secret" "warehouse" {
  count = var.create_warehouse_secret ? 1 : 0
  #checkov:skip=CKV2_AWS_57:Rotating the warehouse password needs a rotation function that knows the warehouse; its owner runs it.

  name                    = coalesce(var.warehouse_secret_name, "${var.name}/warehouse")
  description             = "pgcdc warehouse PostgreSQL: JSON with host, port, username, password, dbname"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "warehouse" {
  count = var.create_warehouse_secret && nonsensitive(var.warehouse_secret_string != null) ? 1 : 0

  secret_id     = aws_secretsmanager_secret.warehouse[0].id
  secret_string = var.warehouse_secret_string
}
