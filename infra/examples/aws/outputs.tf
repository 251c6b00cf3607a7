output "source_secret_arn" {
  description = "Secret to fill with the source credentials (put-secret-value)."
  value       = module.pgcdc.source_secret_arn
}

output "warehouse_secret_arn" {
  description = "Secret to fill with the warehouse credentials."
  value       = module.pgcdc.warehouse_secret_arn
}

output "state_machine_arn" {
  description = "Start a run by hand with `aws stepfunctions start-execution --state-machine-arn ...`."
  value       = module.pgcdc.state_machine_arn
}

output "raw_uri" {
  description = "Raw store, readable by any engine (DuckDB, Athena, Spark)."
  value       = module.pgcdc.raw_uri
}

output "processed_uri" {
  description = "Processed store."
  value       = module.pgcdc.processed_uri
}

output "sns_topic_arn" {
  description = "Alert topic."
  value       = module.pgcdc.sns_topic_arn
}
