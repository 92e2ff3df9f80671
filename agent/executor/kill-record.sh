# kill_record FILE: ends a recorded step (executor/watchdog.ts writes FILE): its cgroups (v2 cgroup.kill, or
# v1 member by member; then removed), its process group, and every process carrying its attempt id in its
# environment.
kill_record() {
  local k v p i
  while read -r k v; do
    case $k in
      cg)
        [ -d "$v" ] || continue
        [ -e "$v/cgroup.kill" ] && echo 1 >"$v/cgroup.kill" 2>/dev/null
        for i in 1 2 3 4 5 6 7 8 9 10; do
          p=
          while read -r p; do kill -9 "$p" 2>/dev/null; done <"$v/cgroup.procs"
          [ -z "$p" ] && break
        done
        # empty once its last members are torn down
        for i in 1 2 3 4 5 6 7 8 9 10; do rmdir "$v" 2>/dev/null && break; sleep 0.05; done ;;
      pgid) kill -9 -- "-$v" 2>/dev/null ;;
      attempt)
        for p in $(grep -lzx "DROVER_ATTEMPT_ID=$v" /proc/[0-9]*/environ 2>/dev/null); do
          p=${p#/proc/}
          kill -9 "${p%/environ}" 2>/dev/null
        done ;;
    esac
  done <"$1"
}
