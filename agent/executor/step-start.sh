# Starts a step (executor/executor.ts): joins its cgroups and applies its rlimits, then refuses to run it if the
# lease already lapsed (the agent was stopped between deciding and starting). Arguments: the lease file, then
# `cg=PROCS_FILE` and `ulimit=FLAGS` items, `--`, and the command to exec.
lease=$1
shift
while [ "$1" != -- ]; do
  case $1 in
    cg=*) echo $$ >"${1#cg=}" || exit 125 ;;
    ulimit=*) ulimit ${1#ulimit=} || exit 125 ;;
  esac
  shift
done
shift
read -r deadline <"$lease" || deadline=0
now=${EPOCHREALTIME/./}
if (( ${now:0:13} >= deadline )); then
  echo "drover: the agent's lease lapsed before this step started" >&2
  exit 125
fi
exec "$@"
