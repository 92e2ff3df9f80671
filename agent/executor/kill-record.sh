# kill_tree PID: kills every live descendant of PID (not PID itself) until none is left. Where PID is a step's
# supervisor (executor/reaper.ts), every orphan of the step is among them for as long as PID lives.
kill_tree() {
  local round f s pid ppid found q
  local -A kids
  for round in 1 2 3 4 5 6 7 8 9 10; do
    kids=()
    for f in /proc/[0-9]*/stat; do
      read -r s <"$f" 2>/dev/null || continue
      # state and ppid follow the command name, which may hold spaces and parentheses
      pid=${s%% *} s=${s##*) }
      [ "${s%% *}" = Z ] && continue
      s=${s#* } ppid=${s%% *}
      kids[$ppid]+=" $pid"
    done
    found= q=(${kids[$1]})
    while ((${#q[@]})); do
      kill -9 "${q[0]}" 2>/dev/null
      found=1 q=("${q[@]:1}" ${kids[${q[0]}]})
    done
    [ -n "$found" ] || return 0
    sleep 0.01
  done
}

# kill_record FILE: ends a recorded step (executor/watchdog.ts writes FILE): the tree under its first process
# (its supervisor's, while that lives), its process group, its cgroups (v2 cgroup.kill, or v1 member by member;
# then removed), and every process carrying its attempt id in its environment.
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
      pgid) kill_tree "$v"; kill -9 -- "-$v" 2>/dev/null ;;
      attempt)
        for p in $(grep -lzx "DROVER_ATTEMPT_ID=$v" /proc/[0-9]*/environ 2>/dev/null); do
          p=${p#/proc/}
          kill -9 "${p%/environ}" 2>/dev/null
        done ;;
    esac
  done <"$1"
}
