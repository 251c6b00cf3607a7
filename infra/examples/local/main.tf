/**
 * pgcdc against an AWS emulator (moto in server mode, or LocalStack): every AWS service
 * the module uses points at one endpoint. The tests apply this against a moto server.
 *
 *   terraform apply -var endpoint_url=http://127.0.0.1:5000 -var package_path=build/pgcdc.zip
 */

provider "aws" {
  region = var.region

  # The emulator accepts any credentials; these never reach AWS.
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true
  # An emulator's gaps answer 501/500: fail within seconds instead of retrying for minutes.
  max_retries = 2

  endpoints {
    cloudwatch     = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    s3             = var.endpoint_url
    scheduler      = var.endpoint_url
    secretsmanager = var.endpoint_url
    sfn            = coalesce(var.sfn_endpoint_url, var.endpoint_url)
    sns            = var.endpoint_url
    sts            = var.endpoint_url
  }
}

module "pgcdc" {
  source = "../../modules/pgcdc"

  name         = var.name
  package_path = var.package_path

  create_warehouse_secret = true
  source_secret_string    = var.source_secret_string
  warehouse_secret_string = var.warehouse_secret_string
  alert_emails            = var.alert_emails
  slot_name               = var.slot_name

  # Tests that drive the state machine on the emulator set these small.
  task_retry_attempts         = var.task_retry_attempts
  task_retry_interval_seconds = var.task_retry_interval_seconds
  retry_max_delay_seconds     = var.retry_max_delay_seconds

  # Throwaway resources: destroy empties the buckets and deletes secrets at once.
  force_destroy               = true
  secret_recovery_window_days = 0

  # The functions talk to the emulator too: pyarrow's S3 through PGCDC_S3_ENDPOINT_URL,
  # boto3 (Secrets Manager) through AWS_ENDPOINT_URL, which Lambda does not reserve.
  environment = {
    PGCDC_S3_ENDPOINT_URL = var.endpoint_url
    AWS_ENDPOINT_URL      = var.endpoint_url
  }

  tags = { "pgcdc:example" = "local" }
}
