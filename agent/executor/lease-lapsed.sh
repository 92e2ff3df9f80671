# _drover_lapsed LEASE: whether the agent's lease (ms since the epoch, in the file LEASE, or LEASE itself where it is a
# number: a sandbox started ahead cannot see the file, and is given the deadline the agent had as it handed the step
# over) has passed, said on stderr; a step does not start then (the agent was stopped between deciding and starting).
# Builtins only. Prepended to step-start.sh and warm-shell-start.sh.
_drover_lapsed() {
  local deadline=$1 now
  [[ -n $deadline && $deadline != *[!0-9]* ]] || read -r deadline <"$1" || deadline=0
  now=${EPOCHREALTIME/./}
  (( ${now:0:13} >= deadline )) || return 1
  echo "drover: the agent's lease lapsed before this step started" >&2
}
