# The watchdog (executor/watchdog.ts): in a session of its own, it keeps time while the agent is stopped, hung
# or dead. Every 200 ms it reads the lease deadline the agent last wrote (ms since the epoch); once that has
# passed it kills every recorded step. It leaves when the agent is gone and no step is left to watch.
# Arguments: the lease file, the step records' dir, the agent's pid. kill_record is prepended.
lease=$1 steps=$2 agent=$3
# A pipe this shell holds both ends of: reading it waits out the timeout, where `sleep 0.2` started a process
# five times a second (0.3-0.6% of a core per idle agent, five times the agent's own).
exec {tick}<> <(:)
while :; do
  read -r deadline <"$lease" || deadline=0
  now=${EPOCHREALTIME/./}
  if (( ${now:0:13} >= deadline )); then
    for f in "$steps"/*; do [ -f "$f" ] && { kill_record "$f"; rm -f "$f"; }; done
  fi
  if ! kill -0 "$agent" 2>/dev/null && ! compgen -G "$steps/*" >/dev/null; then exit 0; fi
  read -rt 0.2 -u "$tick" _
done
