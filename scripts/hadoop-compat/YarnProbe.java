// The real Hadoop 3.5 YARN clients against yarn-sim over Hadoop RPC (make compat).
//
//   java -cp <conf dir>:<hadoop client jars>:<this class> YarnProbe client <probe classpath> <containers>
//       YarnClient (SIMPLE): cluster metrics, nodes, queues, an unknown application, then a new
//       application whose AM is this class in "am" mode; waits for it to finish.
//   YarnProbe am <containers>
//       run by the NodeManager as the AM: AMRMClient (TOKEN, the AMRM token from
//       HADOOP_TOKEN_FILE_LOCATION) registers and asks for containers, NMClient (TOKEN, the NM
//       tokens from allocate) starts a shell in each, and the AM unregisters once all completed.
//
// Every line it prints starts with "probe:" so the compat script can check them.

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.yarn.api.ApplicationConstants;
import org.apache.hadoop.yarn.api.protocolrecords.AllocateResponse;
import org.apache.hadoop.yarn.api.records.ApplicationId;
import org.apache.hadoop.yarn.api.records.ApplicationReport;
import org.apache.hadoop.yarn.api.records.ApplicationSubmissionContext;
import org.apache.hadoop.yarn.api.records.Container;
import org.apache.hadoop.yarn.api.records.ContainerLaunchContext;
import org.apache.hadoop.yarn.api.records.ContainerStatus;
import org.apache.hadoop.yarn.api.records.FinalApplicationStatus;
import org.apache.hadoop.yarn.api.records.LocalResource;
import org.apache.hadoop.yarn.api.records.NodeReport;
import org.apache.hadoop.yarn.api.records.NodeState;
import org.apache.hadoop.yarn.api.records.Priority;
import org.apache.hadoop.yarn.api.records.QueueInfo;
import org.apache.hadoop.yarn.api.records.Resource;
import org.apache.hadoop.yarn.api.records.YarnApplicationState;
import org.apache.hadoop.yarn.api.records.YarnClusterMetrics;
import org.apache.hadoop.yarn.client.api.AMRMClient;
import org.apache.hadoop.yarn.client.api.AMRMClient.ContainerRequest;
import org.apache.hadoop.yarn.client.api.NMClient;
import org.apache.hadoop.yarn.client.api.YarnClient;
import org.apache.hadoop.yarn.client.api.YarnClientApplication;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException;

public class YarnProbe {
    public static void main(String[] args) throws Exception {
        if (args.length >= 3 && args[0].equals("client")) {
            client(args[1], Integer.parseInt(args[2]));
        } else if (args.length >= 2 && args[0].equals("am")) {
            am(Integer.parseInt(args[1]));
        } else {
            System.err.println("usage: YarnProbe client <probe classpath> <containers> | YarnProbe am <containers>");
            System.exit(2);
        }
    }

    static void client(String probeClasspath, int containers) throws Exception {
        YarnConfiguration conf = new YarnConfiguration();
        YarnClient yc = YarnClient.createYarnClient();
        yc.init(conf);
        yc.start();
        YarnClusterMetrics m = yc.getYarnClusterMetrics();
        System.out.println("probe: nodemanagers " + m.getNumNodeManagers() + " active " + m.getNumActiveNodeManagers());
        List<NodeReport> nodes = yc.getNodeReports(NodeState.RUNNING);
        for (NodeReport n : nodes) {
            System.out.println("probe: node " + n.getNodeId() + " " + n.getNodeState() + " capability " + n.getCapability());
        }
        for (QueueInfo q : yc.getAllQueues()) {
            System.out.println("probe: queue " + q.getQueueName() + " " + q.getQueueState());
        }
        try {
            yc.getApplicationReport(ApplicationId.newInstance(1, 9999));
            System.out.println("probe: unknown application FOUND (wrong)");
        } catch (ApplicationNotFoundException e) {
            System.out.println("probe: unknown application " + e.getClass().getName() + ": " + e.getMessage());
        }

        YarnClientApplication app = yc.createApplication();
        ApplicationSubmissionContext ctx = app.getApplicationSubmissionContext();
        ApplicationId id = ctx.getApplicationId();
        System.out.println("probe: new application " + id + " max " + app.getNewApplicationResponse().getMaximumResourceCapability());
        Map<String, String> env = new HashMap<>();
        env.put("CLASSPATH", probeClasspath);
        ContainerLaunchContext clc = ContainerLaunchContext.newInstance(
                Collections.<String, LocalResource>emptyMap(),
                env,
                Collections.singletonList("{{JAVA_HOME}}/bin/java -Xmx128m YarnProbe am " + containers
                        + " 1>" + ApplicationConstants.LOG_DIR_EXPANSION_VAR + "/am.out"
                        + " 2>" + ApplicationConstants.LOG_DIR_EXPANSION_VAR + "/am.err"),
                null, null, null);
        ctx.setApplicationName("yarn-probe");
        ctx.setApplicationType("YARN-PROBE");
        ctx.setAMContainerSpec(clc);
        ctx.setResource(Resource.newInstance(256, 1));
        ctx.setMaxAppAttempts(1);
        yc.submitApplication(ctx);
        System.out.println("probe: submitted " + id);
        long deadline = System.currentTimeMillis() + 120_000;
        ApplicationReport r = yc.getApplicationReport(id);
        while (!EnumSet.of(YarnApplicationState.FINISHED, YarnApplicationState.FAILED, YarnApplicationState.KILLED)
                .contains(r.getYarnApplicationState()) && System.currentTimeMillis() < deadline) {
            Thread.sleep(200);
            r = yc.getApplicationReport(id);
        }
        System.out.println("probe: final " + r.getYarnApplicationState() + " " + r.getFinalApplicationStatus()
                + " diagnostics " + r.getDiagnostics().replace('\n', ' '));
        boolean listed = false;
        for (ApplicationReport a : yc.getApplications()) {
            listed |= a.getApplicationId().equals(id);
        }
        System.out.println("probe: listed " + listed);
        yc.stop();
    }

    static void am(int containers) throws Exception {
        YarnConfiguration conf = new YarnConfiguration();
        AMRMClient<ContainerRequest> rm = AMRMClient.createAMRMClient();
        rm.init(conf);
        rm.start();
        NMClient nm = NMClient.createNMClient();
        nm.init(conf);
        nm.start();
        rm.registerApplicationMaster(System.getenv("NM_HOST"), 0, "");
        System.out.println("probe: registered");
        for (int i = 0; i < containers; i++) {
            rm.addContainerRequest(new ContainerRequest(Resource.newInstance(128, 1), null, null, Priority.newInstance(1)));
        }
        int started = 0;
        int completed = 0;
        int failed = 0;
        List<String> seen = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 60_000;
        while (completed < containers && System.currentTimeMillis() < deadline) {
            AllocateResponse resp = rm.allocate((float) completed / containers);
            for (Container c : resp.getAllocatedContainers()) {
                if (started >= containers) {
                    rm.releaseAssignedContainer(c.getId());
                    continue;
                }
                ContainerRequest matched = rm.getMatchingRequests(c.getPriority(), "*", c.getResource()).get(0).iterator().next();
                rm.removeContainerRequest(matched);
                ContainerLaunchContext clc = ContainerLaunchContext.newInstance(
                        Collections.<String, LocalResource>emptyMap(), Collections.<String, String>emptyMap(),
                        Collections.singletonList("echo hello from $CONTAINER_ID 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr"),
                        null, null, null);
                nm.startContainer(c, clc);
                started++;
                System.out.println("probe: started " + c.getId() + " on " + c.getNodeId());
            }
            for (ContainerStatus s : resp.getCompletedContainersStatuses()) {
                if (seen.contains(s.getContainerId().toString())) {
                    continue;
                }
                seen.add(s.getContainerId().toString());
                completed++;
                if (s.getExitStatus() != 0) {
                    failed++;
                }
                System.out.println("probe: completed " + s.getContainerId() + " exit " + s.getExitStatus());
            }
            Thread.sleep(100);
        }
        FinalApplicationStatus status = (completed == containers && failed == 0) ? FinalApplicationStatus.SUCCEEDED : FinalApplicationStatus.FAILED;
        rm.unregisterApplicationMaster(status, completed + " of " + containers + " containers completed, " + failed + " failed", "");
        System.out.println("probe: unregistered " + status);
        nm.stop();
        rm.stop();
    }
}
