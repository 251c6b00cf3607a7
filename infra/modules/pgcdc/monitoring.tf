################################################################################
# Alert topic, metric filters on the functions' JSON logs, alarms
#
# pgcdc logs one JSON object a line with the keys ts, level, logger, message and the
# record's extras; an ERROR line is counted by a filter on `level`. The figures the alarms
# read (SlotLagBytes, FreshnessSeconds) arrive as CloudWatch Embedded Metric Format lines
# printed by the handlers, in the namespace `metric_namespace`.
################################################################################

resource "aws_kms_key" "alerts" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "pgcdc ${var.name} alert topic: lets CloudWatch alarms publish to the encrypted topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "alerts" {
  count = var.kms_key_arn == null ? 1 : 0

  name          = "alias/${var.name}-alerts"
  target_key_id = aws_kms_key.alerts[0].key_id
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  display_name      = "pgcdc ${var.name} alerts"
  kms_master_key_id = local.alerts_kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alert_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  # One filter a function: its ERROR lines. The figures (slot lag, freshness) do not go
  # through filters: the handlers print them as EMF documents (pgcdc/pipeline/emf.py), which
  # CloudWatch Logs turns into metrics itself.
  metric_filters = {
    for step in local.steps : "${step}-errors" => {
      step    = step
      pattern = "{ $.level = \"ERROR\" }"
      metric  = "${title(step)}Errors"
      value   = "1"
      unit    = "Count"
    }
  }

  log_alarms = merge(
    {
      for step in local.steps : "${step}-errors" => {
        description = "The ${step} function logged ERROR lines."
        metric      = "${title(step)}Errors"
        statistic   = "Sum"
        comparison  = "GreaterThanOrEqualToThreshold"
        threshold   = var.error_alarm_threshold
        missing     = "notBreaching"
      }
    },
    {
      slot-lag = {
        description = "The replication slot retains more WAL than the threshold: capture is falling behind or stopped, and the source's disk fills."
        metric      = "SlotLagBytes"
        statistic   = "Maximum"
        comparison  = "GreaterThanThreshold"
        threshold   = var.slot_lag_alarm_threshold_bytes
        missing     = "missing"
      }
      freshness = {
        description = "The newest data in the warehouse is older than the threshold (or no freshness was reported)."
        metric      = "FreshnessSeconds"
        statistic   = "Maximum"
        comparison  = "GreaterThanThreshold"
        threshold   = var.freshness_alarm_threshold_seconds
        missing     = var.freshness_missing_data
      }
    },
  )
}

resource "aws_cloudwatch_log_metric_filter" "this" {
  for_each = local.metric_filters

  name           = "${var.name}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.lambda[each.value.step].name
  pattern        = each.value.pattern

  metric_transformation {
    namespace = var.metric_namespace
    name      = each.value.metric
    value     = each.value.value
    unit      = each.value.unit
  }
}

resource "aws_cloudwatch_metric_alarm" "logs" {
  for_each = local.log_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = var.metric_namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  treat_missing_data  = each.value.missing
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  tags = var.tags

  # The metric exists only once a filter has published to it.
  depends_on = [aws_cloudwatch_log_metric_filter.this]
}

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  alarm_name          = "${var.name}-executions-failed"
  alarm_description   = "A pgcdc pipeline execution failed (the failed step's details went to this topic too)."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.this.arn }
  statistic           = "Sum"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  tags = var.tags
}
