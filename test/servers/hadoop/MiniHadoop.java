/*
 * The test harness's Hadoop mini cluster (test/servers/hadoop.ts compiles and runs this): in one
 * JVM, a MiniDFSCluster (a NameNode with WebHDFS and one DataNode) and/or a MiniYARNCluster (a
 * ResourceManager; no NodeManager: the tests register unmanaged application masters only), every
 * address on 127.0.0.1 with the ports the harness chose.
 *
 *   java MiniHadoop <base dir> <dfs|yarn|dfs,yarn> key=value...
 * The key=value pairs are Hadoop configuration (the harness sets the addresses). When the cluster
 * serves, it writes <base dir>/conf/yarn-site.xml (the ResourceManager's whole configuration, as a
 * HADOOP_CONF_DIR holds it) and prints one line, "READY". It runs until it is killed (the harness
 * kills its process group).
 */
import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

public class MiniHadoop {
  public static void main(String[] args) throws Exception {
    File base = new File(args[0]);
    String parts = args[1];
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(base, "dfs").getAbsolutePath());
    conf.set("hadoop.tmp.dir", new File(base, "tmp").getAbsolutePath());
    // A closing file waits until the DataNode has reported its last block; the client (here the
    // DataNode's WebHDFS handler) asks again after this delay, doubling it: Hadoop's 400 ms makes
    // every small file take 0.4 s. Same semantics, shorter waits.
    conf.set("dfs.client.block.write.locateFollowingBlock.initial.delay.ms", "10");
    for (int i = 2; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      conf.set(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    MiniDFSCluster dfs = null;
    MiniYARNCluster yarn = null;
    if (parts.contains("dfs")) {
      dfs = new MiniDFSCluster.Builder(conf)
          .numDataNodes(1)
          .nameNodePort(conf.getInt("tsflink.nn.rpc.port", 0))
          .nameNodeHttpPort(conf.getInt("tsflink.nn.http.port", 0))
          .format(true)
          .build();
      dfs.waitActive();
    }
    if (parts.contains("yarn")) {
      YarnConfiguration yconf = new YarnConfiguration(conf);
      // One queue, "default" (no capacity-scheduler.xml on the class path).
      yconf.setIfUnset("yarn.scheduler.capacity.root.queues", "default");
      yconf.setIfUnset("yarn.scheduler.capacity.root.default.capacity", "100");
      yconf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, true);
      yarn = new MiniYARNCluster("tsflink", 0, 1, 1);
      yarn.init(yconf);
      yarn.start();
      File confDir = new File(base, "conf");
      confDir.mkdirs();
      File tmp = new File(confDir, "yarn-site.xml.tmp");
      try (OutputStream out = new FileOutputStream(tmp)) {
        yarn.getConfig().writeXml(out);
      }
      if (!tmp.renameTo(new File(confDir, "yarn-site.xml"))) throw new IllegalStateException("cannot write yarn-site.xml");
    }
    System.out.println("READY");
    System.out.flush();
    Thread.currentThread().join();
  }
}
