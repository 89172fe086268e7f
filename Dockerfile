# fleetsim as a container:
#   docker run --user "$(id -u):$(id -g)" -v "$PWD/results:/results" --network host \
#     IMAGE run --csms ws://127.0.0.1:9000/ocpp
# Results go to /results/<run-id>/ (a volume: mount a host folder there to keep them).
ARG BASE=python:3.12-slim
FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fleetsim ./fleetsim
# The compiled build (README, "A compiled build": about 1.2x the calls per
# CPU-second) where this stage can get a C compiler and Python's headers; the
# plain build where it cannot. `fleetsim --version` says which (`build`).
RUN python -m venv /opt/fleetsim \
 && /opt/fleetsim/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && if { command -v gcc >/dev/null || { apt-get update -qq \
          && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null; }; } \
       && { python -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-dev >/dev/null; } \
       && HATCH_BUILD_HOOK_ENABLE_MYPYC=1 /opt/fleetsim/bin/pip install --no-cache-dir --quiet .; \
    then echo "fleetsim: the compiled build"; \
    else echo "fleetsim: no C compiler here, the plain build" && /opt/fleetsim/bin/pip install --no-cache-dir --quiet .; fi \
 && /opt/fleetsim/bin/pip uninstall --yes --quiet pip

FROM ${BASE}
# No compilers or pip in the final image: only the virtual environment built above.
COPY --from=build /opt/fleetsim /opt/fleetsim
# The default results folder, results/ in the working directory, is /results:
# one path to mount, whatever the run writes (--out /results/NAME works too).
RUN useradd --create-home --uid 10001 fleetsim \
 && mkdir /results && chown fleetsim /results \
 && ln -s /results /home/fleetsim/results
# The shipped scenarios and their data: `docker run IMAGE run scenarios/quickstart.toml`.
COPY scenarios /home/fleetsim/scenarios
USER fleetsim
WORKDIR /home/fleetsim
VOLUME /results
ENV PATH=/opt/fleetsim/bin:$PATH PYTHONUNBUFFERED=1
ENTRYPOINT ["fleetsim"]
CMD ["--help"]
