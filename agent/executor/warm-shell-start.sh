# The start of a step whose shell was started ahead (warm-shell.sh): the shell reads this as its BASH_ENV, before
# its script, and waits in its last line for the step's start. Given the step's start file (its dir, output file,
# script, the lease file or deadline, ulimit= items, an empty field and its environment, NUL-separated), it does what
# a cold start does before the shell runs: takes on the step's dir, output and script (fd 3), its rlimits, refuses to
# run it if the lease lapsed, and exports its environment; then it leaves no trace the step could see: no function or
# variable of its own (locals named _drover_*, a name no step's environment reaches a warm start with), $_ and $?
# as a new shell has them, its clock from now. Builtins only: a fork here costs a millisecond. lease-lapsed.sh
# precedes this text; the step's start, which the agent writes to fd 5 as the step starts, is the call:
# _drover_start FILE "$1".
_drover_start() {
  local -a _drover_f
  local _drover_i=4
  mapfile -d '' -t _drover_f <"$1" || exit 125
  cd -P -- "${_drover_f[0]}" && exec 3<"${_drover_f[2]}" 4<&- 5<&- 6<&- || exit 125
  # a sandbox's output is its stdout and stderr already (warm-sandbox.ts): the agent's spool is not in its view
  [ -z "${_drover_f[1]}" ] || exec >>"${_drover_f[1]}" 2>&1 || exit 125
  while [ -n "${_drover_f[_drover_i]}" ]; do
    ulimit ${_drover_f[_drover_i]#ulimit=} || exit 125
    _drover_i=$((_drover_i + 1))
  done
  _drover_lapsed "${_drover_f[3]}" && exit 125
  # as a shell started in the step's dir has them: OLDPWD exported with no value
  unset -v BASH_ENV OLDPWD LANG
  export OLDPWD
  SECONDS=0
  export -- "${_drover_f[@]:_drover_i+1}"
  unset -f _drover_start _drover_lapsed
}
# "$_" as the shell started: it is the last word of this command, and so what $_ is once it returns
. /dev/fd/5 "$_"
