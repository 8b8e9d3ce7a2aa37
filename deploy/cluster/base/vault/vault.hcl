ui            = true
disable_mlock = true

listener "tcp" {
  address         = "[::]:8200"
  cluster_address = "[::]:8201"
  tls_cert_file   = "/vault/tls/tls.crt"
  tls_key_file    = "/vault/tls/tls.key"
  tls_min_version = "tls12"
}

storage "consul" {
  address              = "consul.consul.svc.cluster.local:8500"
  path                 = "vault/"
  disable_registration = "true"
}
