# Per master: the address other hosts use to reach this master (never a loopback address).
export ALLUXIO_MASTER_HOSTNAME=master1.example.com
# The guide's alternative to the site file: the same keys as -D options.
# export ALLUXIO_JAVA_OPTS="-Dalluxio.zookeeper.enabled=true -Dalluxio.zookeeper.address=zk1:2181,zk2:2181,zk3:2181"
