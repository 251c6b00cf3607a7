/**
 * pgcdc on a real AWS account.
 *
 *   terraform init
 *   terraform apply -var package_path=../../../build/lambda/pgcdc.zip \
 *     -var layer_zip_path=../../../build/lambda/dependencies.zip \
 *     -var 'alert_emails=["data-team@example.com"]'
 *
 * then store the credentials (never through Terraform):
 *
 *   aws secretsmanager put-secret-value --secret-id "$(terraform output -raw source_secret_arn)" \
 *     --secret-string file://source.json
 *
 * Keep the state in a remote backend with locking; for example, add
 *   backend "s3" { bucket = "...", key = "pgcdc/terraform.tfstate", region = "...", use_lockfile = true }
 * to the terraform block in versions.tf.
 */

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "app"        = "pgcdc"
      "managed-by" = "terraform"
    }
  }
}

module "pgcdc" {
  source = "../../modules/pgcdc"

  name           = var.name
  package_path   = var.package_path
  layer_zip_path = var.layer_zip_path

  create_warehouse_secret = true
  slot_name               = var.slot_name
  alert_emails            = var.alert_emails

  vpc_subnet_ids         = var.vpc_subnet_ids
  vpc_security_group_ids = var.vpc_security_group_ids

  environment = var.tables == "" ? {} : { PGCDC_TABLES = var.tables }
}
