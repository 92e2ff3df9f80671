# A step's PID 1 started ahead (warm-start.ts), with no environment: joins the cgroups made ahead for its step (the
# first move into a group may wait out an RCU grace period, milliseconds, that a step started this way no longer
# waits for), then waits for the path of a file the agent writes when a step starts, holding the step's dir, output
# file, script, start items (ulimit=), an empty field and its environment, NUL-separated. EOF (the agent stopped or
# died) ends it having run nothing. It takes on the step's dir, output, script (fd 3) and environment, then
# step-start.sh, which follows this text, starts the step. Builtins only until the step starts: a fork here costs a
# millisecond or more. Arguments: the lease file, cg=PROCS_FILE items, `--`, the command.
lease=$1
shift
while [ "$1" != -- ]; do
  echo $$ >"${1#cg=}" || exit 125
  shift
done
IFS= read -r start || exit 125
exec </dev/null
mapfile -d '' -t f <"$start"
cd -- "${f[0]}" && exec >>"${f[1]}" 2>&1 3<"${f[2]}" || exit 125
items=() i=3
while [ -n "${f[i]}" ]; do
  items+=("${f[i]}")
  i=$((i + 1))
done
# what bash itself exports; the step's environment is its own and nothing else
unset PWD OLDPWD SHLVL
export -- "${f[@]:i+1}"
set -- "$lease" "${items[@]}" init "$@"
