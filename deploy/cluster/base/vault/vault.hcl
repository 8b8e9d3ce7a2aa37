ui            = true
disable_mlock = true

listener "tcp" {
  address         = "[::]:8200"
  cluster_address = "[::]:8201"
  tls_cert_file   = "/vault/tls/tls.crt"
  tls_key_file    = "/vault/tls/tls.key"
  tls_min_version = "tls12"
}

# Consul's HTTPS API, its certificate checked against the CA in the Secret consul-ca (ca.crt): the CA that signed
# Consul's servers (deploy/cluster/base/consul/tls.hcl).
storage "consul" {
  address              = "consul.consul.svc.cluster.local:8501"
  scheme               = "https"
  tls_ca_file          = "/vault/consul-ca/ca.crt"
  path                 = "vault/"
  disable_registration = "true"
}
