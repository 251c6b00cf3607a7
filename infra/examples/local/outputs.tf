output "pgcdc" {
  description = "Every output of the pgcdc module."
  value       = module.pgcdc
}
