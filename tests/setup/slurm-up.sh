#!/bin/sh
# A one-node Slurm cluster on this machine for tests/slurm.rs: munged,
# slurmctld and slurmd as root, no cgroups, no accounting. Idempotent: a
# cluster already up with this configuration is left as it is.
# Usage: slurm-up.sh DIR   (prints the node's name when it is idle)
set -eu
dir=$1
node=$(hostname -s)
mkdir -p "$dir/state" "$dir/spool" /etc/slurm /etc/munge /run/munge /var/lib/munge /var/log/munge
getent hosts "$node" >/dev/null || echo "127.0.0.1 $node" >> /etc/hosts
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# munge: the key, its owners, the daemon.
[ -s /etc/munge/munge.key ] || head -c 1024 /dev/urandom > /etc/munge/munge.key
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key
running /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid

# Eight CPUs advertised (more than this machine has: config_overrides), so
# that several steps run at once.
cat > "$dir/slurm.conf" <<CONF
ClusterName=sc
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
KillWait=5
MinJobAge=60
NodeName=$node NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=tests Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
if ! cmp -s "$dir/slurm.conf" /etc/slurm/slurm.conf; then
    # A new configuration: the daemons start again with it.
    cp "$dir/slurm.conf" /etc/slurm/slurm.conf
    for daemon in slurmd slurmctld; do
        running "$dir/$daemon.pid" && kill "$(cat "$dir/$daemon.pid")"
        while running "$dir/$daemon.pid"; do sleep 0.1; done
    done
fi
running "$dir/slurmctld.pid" || /usr/sbin/slurmctld
running "$dir/slurmd.pid" || /usr/sbin/slurmd

# Up when the node is: 30 s at most.
tries=0
while :; do
    state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
    case "$state" in
        idle|mix|alloc|comp) break ;;
        down*|drain*) scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 300 ]; then
        echo "slurm node $node is '$state'" >&2
        tail -n 20 "$dir"/*.log >&2
        exit 1
    fi
    sleep 0.1
done
echo "$node"
