output "vpc_id" {
  description = "ID of the cluster's VPC."
  value       = aws_vpc.this.id
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, one per availability zone, in the order of var.availability_zones."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, one per availability zone, in the order of var.availability_zones."
  value       = aws_subnet.private[*].id
}

output "nat_gateway_ids" {
  description = "IDs of the NAT gateways (one, or one per zone)."
  value       = aws_nat_gateway.this[*].id
}

output "api_endpoint" {
  description = "URL of the Kubernetes API server (internal network load balancer, reachable inside the VPC)."
  value       = local.api_endpoint
}

output "ingress_dns_name" {
  description = "DNS name of the public load balancer in front of the ingress controller; point the teams' hosts here."
  value       = aws_lb.ingress.dns_name
}

output "etcd_backup_bucket" {
  description = "Name of the private, versioned, encrypted S3 bucket holding the etcd snapshots."
  value       = aws_s3_bucket.etcd_backups.id
}

output "control_plane_asg_name" {
  description = "Name of the control-plane autoscaling group (min = max = 1)."
  value       = aws_autoscaling_group.control_plane.name
}

output "worker_asg_name" {
  description = "Name of the workers' autoscaling group."
  value       = aws_autoscaling_group.workers.name
}

output "lb_node_asg_name" {
  description = "Name of the load-balancer nodes' autoscaling group."
  value       = aws_autoscaling_group.lb_nodes.name
}

output "node_security_group_id" {
  description = "ID of the security group every node is in (traffic from the VPC only)."
  value       = aws_security_group.nodes.id
}
