# Per master: the address other hosts use to reach this master (never a loopback address).
export ALLUXIO_MASTER_HOSTNAME=master1.example.com
