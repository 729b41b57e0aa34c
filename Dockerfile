# canaryd container image.
#
#   docker build -t canaryd .
#   docker run --rm -p 8080:8080 -p 9901:9901 canaryd          # the demo config
#   docker run --rm -p 8080:8080 -p 9901:9901 \
#       -v "$PWD/myroutes:/etc/canaryd:ro" canaryd              # your own YAML directory
#
# The routing config is read from the directory /etc/canaryd (every *.yaml/*.yml in
# it): in Kubernetes, mount the ConfigMap there as a directory (not with subPath, so
# updates reach the pod) and add --watch (conf/k8s/deployment.yaml does).
# tests/e2e/ship/010_dockerfile_runtime_libs.sh checks this file against the libraries
# the binary really links.

# ---- build stage: the compiler and the -dev packages ----------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config libevent-dev libyaml-dev libpcre2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make clean && make -j"$(nproc)" build/canaryd \
    && strip --strip-unneeded build/canaryd \
    && ./build/canaryd -t -c conf/demo.yaml

# ---- runtime stage: only the shared libraries the binary links ------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libevent-2.1-7 libyaml-0-2 libpcre2-8-0 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 canaryd \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin canaryd
COPY --from=build /src/build/canaryd /usr/local/bin/canaryd
# A default config so that the image runs on its own (the demo: a 90/10 split between
# two built-in direct responses); a volume or ConfigMap mounted here replaces it.
COPY conf/demo.yaml /etc/canaryd/demo.yaml
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080 9901
# SIGTERM drains gracefully (readiness 503, in-flight requests finish, exit 0).
STOPSIGNAL SIGTERM
# Liveness on the admin port, without curl in the image (bash's /dev/tcp). Adjust the
# port if you move the admin listener with -a; Kubernetes uses its own probes.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'GET /internal/platform/liveness HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/canaryd"]
CMD ["-c", "/etc/canaryd"]
