import alluxio.AlluxioURI;
import alluxio.client.file.FileSystem;
import alluxio.grpc.CreateDirectoryPOptions;

/**
 * Creates one directory after another through Alluxio's own client, as fast as the master
 * acknowledges them, and prints "ok <epoch ms>" after each (and "error ..." when the client
 * gives up on one): the side-by-side failover bench times the first acknowledgement after it
 * kills the leading master.
 */
public final class FailoverProbe {
  public static void main(String[] args) throws Exception {
    CreateDirectoryPOptions parents = CreateDirectoryPOptions.newBuilder().setRecursive(true).build();
    try (FileSystem fs = FileSystem.Factory.create()) {
      for (long n = 0; ; n++) {
        try {
          fs.createDirectory(new AlluxioURI("/failover-probe/" + args[0] + "/" + n), parents);
          System.out.println("ok " + System.currentTimeMillis());
        } catch (Exception e) {
          // The client gave up retrying (alluxio.user.rpc.retry.max.duration): keep probing,
          // the bench waits for the first success.
          System.out.println("error " + System.currentTimeMillis() + " " + e);
        }
      }
    }
  }
}
