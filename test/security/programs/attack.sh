# cylo security battery: the Bash attack program. Run ONLY inside cylo's sandbox, after the
# pre-flight passed:  bash main.sh ATTACK [ARGS...]
# Each probe prints one line "name=RESULT": "ok" or the errno name, read back from the
# strerror() text of the failing command (bash has no errno of its own).

attack=$1
shift
# A trailing "cylomark..." argument only marks the process for the host-side checks.
marker=
if [ $# -gt 0 ]; then
  last=${!#}
  case $last in cylomark*) marker=$last; set -- "${@:1:$(($# - 1))}" ;; esac
fi

errno_of() {
  case $1 in
    *"Operation not permitted"*) echo EPERM ;;
    *"Permission denied"*) echo EACCES ;;
    *"No such file or directory"*) echo ENOENT ;;
    *"Read-only file system"*) echo EROFS ;;
    *"No space left on device"*) echo ENOSPC ;;
    *"File too large"*) echo EFBIG ;;
    *"No such process"*) echo ESRCH ;;
    *"Connection refused"*) echo ECONNREFUSED ;;
    *"Network is unreachable"*) echo ENETUNREACH ;;
    *"Function not implemented"*) echo ENOSYS ;;
    *"Resource temporarily unavailable"*) echo EAGAIN ;;
    *"Invalid argument"*) echo EINVAL ;;
    *"must be superuser"*) echo not-root ;;
    *) echo "unknown:${1:0:80}" ;;
  esac
}

# probe NAME COMMAND...: runs the command, prints NAME=ok or NAME=<errno from its message>.
probe() {
  local name=$1 err
  shift
  if err=$("$@" 2>&1 >/dev/null); then echo "$name=ok"; else echo "$name=$(errno_of "$err")"; fi
}

case $attack in
  hello) echo hello=ok ;;

  syscalls)
    probe unshare_user unshare --user true
    probe unshare_mount unshare --mount true
    probe unshare_net unshare --net true
    probe unshare_map_root unshare --map-root-user true
    probe mount_tmpfs mount -t tmpfs none /work
    probe mount_bind mount --bind /work /usr
    probe chroot /usr/sbin/chroot /work /usr/bin/true
    probe nsenter_pid1 nsenter --target 1 --mount true
    ;;

  fork-bomb)
    # The classic: each function call pipes into another, in the background, forever.
    bomb() { bomb | bomb & }
    bomb
    sleep 30
    ;;

  memory-bomb)
    s=xxxxxxxxxxxxxxxx
    while :; do s=$s$s; done
    ;;

  fill-bytes)
    err=$(cat /dev/zero 2>&1 >/work/fill)
    echo "write=$(errno_of "$err")"
    echo "bytes=$(stat -c %s /work/fill)"
    ;;

  fill-inodes)
    n=0
    while err=$( { : >"/work/i$n"; } 2>&1 ) && [ -z "$err" ]; do n=$((n + 1)); done
    echo "create=$(errno_of "$err")"
    echo "files=$n"
    ;;

  stdout-flood) yes BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB ;;
  stderr-flood) yes BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB >&2 ;;
  busy) while :; do :; done ;;
  sleep) sleep infinity ;;
  sigstop)
    echo stopping=ok
    kill -STOP $$
    echo resumed=ok
    ;;

  daemon)
    # background, setsid, double fork and nohup: each renamed after the marker
    m=${marker:-cylomark-none}
    (exec -a "$m-bg" sleep 1000) &
    setsid bash -c 'exec -a "$0" sleep 1000' "$m-setsid" &
    ( (exec -a "$m-double" sleep 1000) & ) &
    nohup bash -c 'exec -a "$0" sleep 1000' "$m-nohup" >/dev/null 2>&1 &
    disown -a
    n=0
    for _ in $(seq 200); do
      n=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' | grep -c -- "^$m-")
      [ "$n" -ge 4 ] && break
      sleep 0.01
    done
    echo "daemons=$n"
    ;;

  kill)
    # kill runs in this shell (a probe's subshell would be the one kill(-1) spares)
    direct() {
      local name=$1
      shift
      if kill "$@" 2>/work/.kill-err; then echo "$name=ok"; else echo "$name=$(errno_of "$(cat /work/.kill-err)")"; fi
    }
    direct kill_minus_1_alone -KILL -1
    sleep 30 &
    child=$!
    direct kill_minus_1_with_child -KILL -1
    wait "$child"
    rc=$?
    echo "child_killed_by=$([ "$rc" = 137 ] && echo SIGKILL || echo "rc$rc")"
    direct kill_pid1 -KILL 1
    i=0
    for p in "$@"; do
      direct "kill_host_$i" -KILL "$p"
      i=$((i + 1))
    done
    echo survived=ok
    ;;

  read)
    for p in "$@"; do
      if [ -d "$p" ]; then probe "$p" ls "$p"; else probe "$p" head -c 64 "$p"; fi
    done
    ;;

  write)
    for p in "$@"; do
      # the redirection fails in the subshell; its message carries the errno text
      probe "$p" bash -c 'echo planted >"$1"' _ "$p"
    done
    ;;

  net)
    # net TCP4_PORT TCP6_PORT UDP_PORT: bash's /dev/tcp and /dev/udp
    probe tcp4_canary bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1"
    [ "$2" != 0 ] && probe tcp6_canary bash -c 'exec 3<>"/dev/tcp/::1/$1"' _ "$2"
    probe udp_canary bash -c 'exec 3<>"/dev/udp/127.0.0.1/$1" && for i in 1 2 3; do echo cylo >&3 || exit 1; sleep 0.02; done' _ "$3"
    ;;

  routes)
    echo "interfaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | paste -sd,)"
    echo "ipv4_routes=$(tail -n +2 /proc/net/route | wc -l)"
    echo "ipv6_route_devices=$(awk '{print $10}' /proc/net/ipv6_route | sort -u | paste -sd,)"
    ;;

  env)
    echo "environ=$(env | cut -d= -f1 | sort | paste -sd';')"
    probe proc_1_environ cat /proc/1/environ
    ;;

  setuid)
    # Setuid-root binaries run but gain nothing: every mount is nosuid, NoNewPrivs is set, and
    # root is not even mapped in the sandbox's user namespace (so a setuid-root file cannot
    # switch to it). Each binary is asked to do something only root may; it must fail.
    echo "no_new_privs=$(awk '/^NoNewPrivs/ {print $2}' /proc/self/status)"
    echo "mounts_without_nosuid=$(awk '$6 !~ /(^|,)nosuid(,|$)/ {print $5}' /proc/self/mountinfo | paste -sd,)"
    echo "uid_map=$(awk '{print $1 ":" $2 ":" $3}' /proc/self/uid_map | paste -sd,)"
    try() {
      local name=$1 out rc
      shift
      out=$("$@" </dev/null 2>&1)
      rc=$?
      case $out in *uid=0*) echo "$name=ROOT" ;; *) echo "$name=$([ $rc = 0 ] && echo succeeded || echo failed)" ;; esac
    }
    try su su root -c id
    try passwd passwd -d root
    try mount mount -t tmpfs none /work
    try umount umount /usr
    try newgrp newgrp root
    try chsh chsh -s /bin/sh root
    echo "id=$(id -u),$(id -g)"
    ;;

  *)
    echo "unknown attack $attack" >&2
    exit 2
    ;;
esac
