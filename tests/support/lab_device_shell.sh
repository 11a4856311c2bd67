#!/bin/sh
# The login shell of a lab test device (sshd's ForceCommand): runs the client's command in the device's own
# home, except for what the device's mode makes it do instead. Usage: lab_device_shell.sh MODE HOME PYTHON
# (PYTHON: the interpreter the device's profile runs the benchmark runner with)
#   good  — nothing special
#   slow  — every benchmark takes 1 s longer
#   hang  — its first job benchmark (not the 10-run golden health check) never finishes
#   drop  — every benchmark kills the SSH session it runs in: the connection drops mid-job
#   hot   — the thermal zone reports 91 °C
mode="$1"
export HOME="$2"
python="$3"
mkdir -p "$HOME"
cd "$HOME" || exit 1
command="$SSH_ORIGINAL_COMMAND"

drop_the_connection() {  # kill the sshd process serving this session: the client's connection is gone
    pid=$$
    while [ "$pid" -gt 1 ]; do
        pid=$(awk '{print $4}' "/proc/$pid/stat")
        case "$(cat "/proc/$pid/comm")" in sshd*) kill -9 "$pid"; exit 255 ;; esac
    done
    exit 255
}

case "$mode:$command" in
    hot:*thermal_zone0/temp*) echo 91000; exit 0 ;;
    slow:*--artifact*) sleep 1 ;;
    hang:*--artifact*--runs\ 10\ *) ;;
    hang:*--artifact*)  # the runner itself hangs (edgeq's process-group wrapper around it still runs)
        if [ ! -e "$HOME/hung-once" ]; then
            touch "$HOME/hung-once"
            command=$(printf '%s' "$command" | sed "s#$python #$(dirname "$0")/lab_hung_python.sh #")
        fi ;;
    drop:*--artifact*) drop_the_connection ;;
esac
exec /bin/sh -c "$command"
