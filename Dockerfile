# fleetsim as a container:
#   docker run --user "$(id -u):$(id -g)" -v "$PWD/results:/results" --network host \
#     IMAGE run --csms ws://127.0.0.1:9000/ocpp
# Results go to /results/<run-id>/ (a volume: mount a host folder there to keep them).
ARG BASE=python:3.12-slim
FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fleetsim ./fleetsim
RUN python -m venv /opt/fleetsim \
 && /opt/fleetsim/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/fleetsim/bin/pip install --no-cache-dir --quiet . \
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
