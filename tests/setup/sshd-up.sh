#!/bin/sh
# An sshd on 127.0.0.1 for scripts/bench (tests/sshd.rs starts its own):
# key-only root login, host aliases `lab` and `lab2` in DIR/ssh_config.
# Usage: sshd-up.sh DIR [PORT]   (prints the ssh_config's path; stop it
# with `kill $(cat DIR/sshd.pid)`)
set -eu
dir=$1
port=${2:-2299}
mkdir -p "$dir" /run/sshd
for key in host_ed25519 id_ed25519; do
    [ -f "$dir/$key" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/$key"
done
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxStartups 100:30:200
MaxSessions 100
# bash reads ~/.bashrc for every command sshd runs (unless SHLVL says it
# is not the first shell); root's here runs \`pyenv init\`, 0.3 s a session.
# That is this machine's login shell, not ssh's cost or sc's: the bench
# measures without it (and README says what it costs).
SetEnv SHLVL=1
CONF
cat > "$dir/ssh_config" <<CONF
Host lab lab2
  HostName 127.0.0.1
  Port $port
  User root
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
CONF
if ! { [ -f "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; }; then
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
fi
tries=0
until ssh -F "$dir/ssh_config" -o BatchMode=yes lab true 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 100 ] || { echo "sshd did not answer: $(tail -n 5 "$dir/sshd.log")" >&2; exit 1; }
    sleep 0.1
done
echo "$dir/ssh_config"
