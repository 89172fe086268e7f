# fleetsim as a container: `docker run IMAGE run --csms ws://csms:9000/ocpp ...`
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
RUN useradd --create-home --uid 10001 fleetsim \
 && mkdir -p /home/fleetsim/results && chown fleetsim /home/fleetsim/results
# The shipped scenarios and their data: `docker run IMAGE run scenarios/quickstart.toml`.
COPY scenarios /home/fleetsim/scenarios
USER fleetsim
WORKDIR /home/fleetsim
ENV PATH=/opt/fleetsim/bin:$PATH PYTHONUNBUFFERED=1
ENTRYPOINT ["fleetsim"]
CMD ["--help"]
