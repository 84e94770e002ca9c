/*
 * An unmanaged YARN application master for the tests (test/servers/hadoop.ts compiles and runs
 * this): submits an application with unmanaged-AM set through the YARN client protocol, takes the
 * attempt's AMRM token from the ResourceManager, and registers over the ApplicationMaster protocol
 * with the host, RPC port and tracking URL it is given (what Flink's job manager registers: its
 * REST host and port). Heartbeats until its stdin closes (or reads "finish": then it unregisters
 * and the application ends FINISHED).
 *
 *   java -cp ... UnmanagedAm <HADOOP_CONF_DIR> <host> <rpc port> <tracking URL> <application name>
 * Prints the application id once registered.
 */
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.security.token.Token;
import org.apache.hadoop.yarn.api.records.ApplicationId;
import org.apache.hadoop.yarn.api.records.ApplicationReport;
import org.apache.hadoop.yarn.api.records.ApplicationSubmissionContext;
import org.apache.hadoop.yarn.api.records.ContainerLaunchContext;
import org.apache.hadoop.yarn.api.records.FinalApplicationStatus;
import org.apache.hadoop.yarn.api.records.Resource;
import org.apache.hadoop.yarn.client.api.AMRMClient;
import org.apache.hadoop.yarn.client.api.YarnClient;
import org.apache.hadoop.yarn.client.api.YarnClientApplication;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.security.AMRMTokenIdentifier;

public class UnmanagedAm {
  public static void main(String[] args) throws Exception {
    YarnConfiguration conf = new YarnConfiguration();
    conf.addResource(new Path(new File(args[0], "yarn-site.xml").getAbsolutePath()));
    String host = args[1];
    int rpcPort = Integer.parseInt(args[2]);
    String trackingUrl = args[3];
    YarnClient client = YarnClient.createYarnClient();
    client.init(conf);
    client.start();
    YarnClientApplication app = client.createApplication();
    ApplicationSubmissionContext ctx = app.getApplicationSubmissionContext();
    ApplicationId appId = ctx.getApplicationId();
    ctx.setApplicationName(args[4]);
    ctx.setApplicationType("Apache Flink");
    ctx.setUnmanagedAM(true);
    ctx.setQueue("default");
    ctx.setResource(Resource.newInstance(128, 1));
    ctx.setAMContainerSpec(ContainerLaunchContext.newInstance(null, null, null, null, null, null));
    client.submitApplication(ctx);
    Token<AMRMTokenIdentifier> token = null;
    for (int i = 0; i < 600 && token == null; i++) {
      ApplicationReport r = client.getApplicationReport(appId);
      if (r.getCurrentApplicationAttemptId() != null) token = client.getAMRMToken(appId);
      if (token == null) Thread.sleep(100);
    }
    if (token == null) throw new IllegalStateException("no AMRM token for " + appId);
    UserGroupInformation.getCurrentUser().addToken(token);
    AMRMClient<AMRMClient.ContainerRequest> am = AMRMClient.createAMRMClient();
    am.init(conf);
    am.start();
    am.registerApplicationMaster(host, rpcPort, trackingUrl);
    System.out.println(appId);
    System.out.flush();
    AtomicBoolean finish = new AtomicBoolean(false);
    AtomicBoolean closed = new AtomicBoolean(false);
    Thread reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
        String line;
        while ((line = in.readLine()) != null) if (line.trim().equals("finish")) { finish.set(true); return; }
      } catch (Exception e) {
        // stdin gone: stop
      }
      closed.set(true);
    });
    reader.setDaemon(true);
    reader.start();
    while (!finish.get() && !closed.get()) {
      am.allocate(0.5f);
      Thread.sleep(500);
    }
    if (finish.get()) {
      am.unregisterApplicationMaster(FinalApplicationStatus.SUCCEEDED, "finished", trackingUrl);
      System.out.println("FINISHED");
      System.out.flush();
    }
    am.stop();
    client.stop();
    System.exit(0);
  }
}
