# Starts a step (executor/executor.ts): joins its cgroups and applies its rlimits, then refuses to run it if the
# lease already lapsed (the agent was stopped between deciding and starting). Arguments: the lease file, then
# `cg=PROCS_FILE` and `ulimit=FLAGS` items, `init` where it is PID 1 of the step's PID namespace, `--`, and the
# command to exec (as PID 1: to run as its child, exiting as it does, so the step's shell is not PID 1).
lease=$1 init=
shift
while [ "$1" != -- ]; do
  case $1 in
    cg=*) echo $$ >"${1#cg=}" || exit 125 ;;
    ulimit=*) ulimit ${1#ulimit=} || exit 125 ;;
    init) init=1 ;;
  esac
  shift
done
shift
_drover_lapsed "$lease" && exit 125
if [ -n "$init" ]; then
  # the step's shell counts the level as it would after an exec (bash lowers it before its exec)
  SHLVL=$((SHLVL - 1))
  "$@"
  exit
fi
exec "$@"
