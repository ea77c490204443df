using Strata.Contracts;
using Strata.Daemon;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("""
        stratad — the Strata daemon (runs in the foreground; `strata daemon` starts it too)

        Options:
          --root DIR            data root (default /var/lib/strata)
          --socket PATH         unix socket for administrators (default /run/strata/strata.sock, mode 0660)
          --node NAME           this node's name (default local): cgroups, bridges, taps, namespaces and chains
                                are named after it, so daemons with their own --root, --socket and --node share a host
          --listen ADDR:PORT    also listen on TCP; every request needs a bearer token
          --token-file PATH     the host admin's bearer token for --listen (default <root>/admin.token, created if missing);
                                project tokens ('strata project token create') work there too
          --tls-cert PEM        serve --listen over HTTPS with this certificate (needs --tls-key)
          --tls-key PEM         the certificate's private key
          --log-max-size SIZE   per-instance log cap before rotation (default 10M; two files are kept)
          --usage-interval S    seconds between usage samples of every running instance, for
                                recommendations and /metrics (default 10; 0 turns sampling off)
          --rightsize-cooldown S  right-sizing in auto mode: at most one change per instance per S
                                seconds (default 3600; an OOM kill raises memory at once regardless)
          --rightsize-samples N  right-sizing in auto mode: samples in a row a limit must be more than
                                10 % off before it changes (default 6)
          --supervisor PATH     the strata-supervisor binary (default: next to stratad, then PATH)
          --oci-runtime NAME    container tier runtime: runc, crun or a path (default: probe, prefer runc)
          --image NAME=DIR      serve a root filesystem directory as image NAME (repeatable; dir:/path always works)
          --unpack-max-size SIZE  most one image layer or imported archive may expand to (default 32G)
          --unpack-max-ratio N  most it may expand per compressed byte, past 256M (default 100)
          --unpack-min-free SIZE  space pulls and imports leave free on the data root's disk (default 1G)
          --docker-socket PATH  serve the Docker Engine API on PATH (default /run/strata/docker.sock, or
                                /run/strata/docker-NODE.sock for a --node other than local; mode 0660),
                                acting in the default project; repeatable, each one may be followed by
            --project NAME      ... acting in project NAME instead (its quotas and restrictions apply)
            --socket-group GRP  ... group owning that socket (default strata)
          --no-docker-socket    serve no Docker API socket (see docs/docker-api.md)
          --no-favordynmods     leave the host's cgroup2 mount as it is; by default stratad turns on its
                                favordynmods option, which spares every container start an RCU grace period
          --no-sandbox-templates  boot every sandbox cold; by default a sandbox starts from its image's
                                booted template (docs/sandbox.md#templates)
          --no-vm-templates     boot every OCI VM cold; by default a VM's first start and every start of a
                                --disposable VM restore its image's booted template (docs/vm.md#templates)
          --cluster etcd://H:P[,H:P…]  join the cluster whose records are in these etcd members (needs --node,
                                --listen and the cluster token; docs/cluster.md)
          --advertise ADDR:PORT how the other nodes reach this node's API (default: --listen)
          --cluster-token-file PATH  the cluster token from 'strata cluster init' (default /etc/strata/cluster.token,
                                mode 0600); a node whose token is not the cluster's is refused
          --etcd-cacert PATH    reach etcd over TLS, trusting the CA in this PEM file for the members' certificates
          --etcd-cert PATH, --etcd-key PATH  the client certificate and key (PEM, key mode 0600) for etcd run with
                                --client-cert-auth
          --etcd-user NAME      etcd user authentication; the password comes from --etcd-password-file PATH
                                (mode 0600) or the STRATA_ETCD_PASSWORD variable, never from a flag
          --cluster-lease-ttl S the node's lease in etcd (default 10)
          --cluster-replace-grace S  how long lost instances wait before they are placed again (default 120)
          --rebalance off|dry-run|auto  the periodic rebalancer on the scheduler leader (default off): dry-run
                                records what it would move as events, auto moves one instance per round
                                (docs/scheduler.md#rebalancing)
          --rebalance-interval S  seconds between its rounds (default 60)
          --rebalance-threshold F  how far nodes' predicted loads may differ, a fraction (default 0.2)

        Signals: SIGTERM and SIGINT stop the daemon and leave every instance running;
        `strata daemon stop --all` stops the instances too. See docs/daemon-behavior.md.
        """);
    return 0;
}

DaemonOptions options;
try
{
    options = DaemonOptions.Parse(args);
}
catch (StrataException e)
{
    Console.Error.WriteLine($"stratad: {e.Message}");
    return 2;
}

try
{
    await using var host = await DaemonHost.StartAsync(options);
    await host.WaitForShutdownAsync();
    return 0;
}
catch (StrataException e)
{
    Console.Error.WriteLine($"stratad: {e.Message}");
    return 1;
}
