output "raw_bucket_name" {
  description = "Name of the raw-store bucket."
  value       = aws_s3_bucket.this["raw"].id
}

output "raw_bucket_arn" {
  description = "ARN of the raw-store bucket."
  value       = aws_s3_bucket.this["raw"].arn
}

output "processed_bucket_name" {
  description = "Name of the processed-store bucket."
  value       = aws_s3_bucket.this["processed"].id
}

output "processed_bucket_arn" {
  description = "ARN of the processed-store bucket."
  value       = aws_s3_bucket.this["processed"].arn
}

output "raw_uri" {
  description = "PGCDC_RAW_URI of the functions (s3://<raw bucket>/<raw_prefix>)."
  value       = local.raw_uri
}

output "processed_uri" {
  description = "PGCDC_PROCESSED_URI of the functions."
  value       = local.processed_uri
}

output "function_names" {
  description = "Function names by step (capture, transform, load)."
  value       = { for step, fn in aws_lambda_function.this : step => fn.function_name }
}

output "function_arns" {
  description = "Function ARNs by step."
  value       = { for step, fn in aws_lambda_function.this : step => fn.arn }
}

output "function_role_arns" {
  description = "ARNs of the functions' roles by step."
  value       = { for step, role in aws_iam_role.lambda : step => role.arn }
}

output "layer_arn" {
  description = "ARN of the dependencies layer version, or null when layer_zip_path is null."
  value       = one(aws_lambda_layer_version.dependencies[*].arn)
}

output "state_machine_arn" {
  description = "ARN of the pipeline state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the pipeline state machine."
  value       = aws_sfn_state_machine.this.name
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule that starts the pipeline."
  value       = aws_scheduler_schedule.this.arn
}

output "sns_topic_arn" {
  description = "ARN of the alert topic (failures and alarms)."
  value       = aws_sns_topic.alerts.arn
}

output "alerts_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the alert topic."
  value       = local.alerts_kms_key_arn
}

output "source_secret_arn" {
  description = "ARN of the source credentials secret (set its value with the AWS CLI)."
  value       = aws_secretsmanager_secret.source.arn
}

output "warehouse_secret_arn" {
  description = "ARN of the warehouse credentials secret, or null when create_warehouse_secret is false."
  value       = one(aws_secretsmanager_secret.warehouse[*].arn)
}

output "log_group_names" {
  description = "Log group names: one per step, and `state_machine`."
  value = merge(
    { for step, lg in aws_cloudwatch_log_group.lambda : step => lg.name },
    { state_machine = aws_cloudwatch_log_group.state_machine.name },
  )
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms that publish to the alert topic."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.logs : alarm.alarm_name],
    [aws_cloudwatch_metric_alarm.executions_failed.alarm_name],
  )
}
