"""The manifests in deploy/ stay in step with the code: Weft's containers are given only settings
project/settings.py reads, vLLM runs as serving/vllm_server.py would start it, the workers
consume the queues jobs and evaluations are routed to, the GPUs go to the training worker and
vLLM, and every container finds the shared storage root at the same path."""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from serving.model_files import BASE_MODEL_FOLDER
from serving.vllm_server import ServerConfig, build_argv, build_env

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
GPU = "nvidia.com/gpu"
# The settings' default queue names (tests/finetune/test_queues.py checks them there).
QUEUES = {"worker-train": "train", "worker-eval": "eval"}


@dataclass(frozen=True, kw_only=True)
class Container:
    where: str  # the file
    name: str  # the compose service, or the Kubernetes object without its "weft-" prefix
    image: str
    argv: list[str]
    env: dict[str, str]
    mounts: dict[str, str]  # mount path: volume
    gpu: bool

    @property
    def weft(self) -> bool:
        return self.image.split("/")[-1].split(":")[0] == "weft"

    @property
    def vllm(self) -> bool:
        return self.image.startswith("vllm/") and "vllm.entrypoints.openai.api_server" in self.argv


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _argv(value) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def compose_containers(path: Path) -> list[Container]:
    found = []
    for name, service in documents(path)[0]["services"].items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.partition("=")[::2] for item in env)
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {})
        found.append(Container(
            where=path.name, name=name, image=service.get("image", ""),
            argv=_argv(service.get("entrypoint")) + _argv(service.get("command")),
            env={key: str(value) for key, value in env.items()},
            mounts={v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])},
            gpu=any("gpu" in d.get("capabilities", []) for d in devices.get("devices", [])),
        ))  # fmt: skip
    return found


def k8s_containers() -> list[Container]:
    docs = [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in documents(path)]
    env_sources = {
        (doc["kind"], doc["metadata"]["name"]): {**doc.get("data", {}), **doc.get("stringData", {})}
        for doc in docs
        if doc.get("kind") in ("ConfigMap", "Secret")
    }
    found = []
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
                  for v in pod.get("volumes", []) if "persistentVolumeClaim" in v}  # fmt: skip
        for spec in pod["containers"]:
            env = {item["name"]: str(item.get("value", "")) for item in spec.get("env", [])}
            for source in spec.get("envFrom", []):
                for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if ref in source:
                        env.update(env_sources[kind, source[ref]["name"]])
            resources = spec.get("resources", {})
            found.append(Container(
                where=f"k8s/{doc['metadata']['name']}",
                name=doc["metadata"]["name"].removeprefix("weft-"), image=spec["image"],
                argv=_argv(spec.get("command")) + _argv(spec.get("args")), env=env,
                mounts={m["mountPath"]: claims[m["name"]]
                        for m in spec.get("volumeMounts", []) if m["name"] in claims},
                gpu=any(GPU in resources.get(key, {}) for key in ("requests", "limits")),
            ))  # fmt: skip
    return found


DEPLOYMENTS = {
    "compose": lambda: compose_containers(DEPLOY / "compose.yaml"),
    "k8s": k8s_containers,
}


@pytest.fixture(params=sorted(DEPLOYMENTS))
def containers(request) -> list[Container]:
    return DEPLOYMENTS[request.param]()


def settings_read() -> set[str]:
    """Every environment variable project/settings.py reads."""
    source = (REPO / "project" / "settings.py").read_text()
    return set(re.findall(r'(?:os\.environ\.get|_env_flag|_env_list)\(\s*"([A-Z0-9_]+)"', source))


def options(argv: list[str]) -> dict[str, str | None]:
    """--name value pairs (None for a flag) from the first --option on."""
    start = next(i for i, arg in enumerate(argv) if arg.startswith("--"))
    found, rest = {}, argv[start:]
    for i, arg in enumerate(rest):
        if arg.startswith("--"):
            following = rest[i + 1] if i + 1 < len(rest) else None
            found[arg] = None if following is None or following.startswith("--") else following
    return found


# ---------------------------------------------------------------- the tests


def test_every_yaml_file_under_deploy_parses():
    assert {p.name for p in yaml_files()} >= {"compose.yaml", "kustomization.yaml", "web.yaml"}
    for path in yaml_files():
        assert documents(path), f"{path.relative_to(REPO)} is empty"


def test_weft_is_given_only_settings_it_reads(containers):
    read = settings_read()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "WEFT_TRAIN_QUEUE"} <= read  # the grep
    needed = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "WEFT_BROKER", "WEFT_DATA_DIR",
              "WEFT_BACKEND", "WEFT_VLLM_URL", "ALLOWED_HOSTS"}  # fmt: skip
    weft = [c for c in containers if c.weft]
    assert {c.name for c in weft} >= {"setup", "web", "worker-train", "worker-eval"}
    for container in weft:
        unread = set(container.env) - read
        assert not unread, f"{container.where}: {container.name} sets {unread}, never read"
        assert needed <= set(container.env), f"{container.name} lacks {needed - set(container.env)}"
        assert container.env["WEFT_BROKER"] == "redis"  # embedded is one machine's


def test_vllm_runs_as_serving_vllm_server_starts_it(containers):
    (vllm,) = [c for c in containers if c.vllm]
    started = ServerConfig(model_folder=Path("/model"), cpu=False)
    assert set(vllm.env) <= set(build_env(started, base={})), "vLLM is given what it is not"
    assert vllm.env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    wanted, given = options(build_argv(started)), options(vllm.argv)
    for name in set(wanted) - {"--model", "--host"}:
        assert given.get(name, "missing") == wanted[name], f"{vllm.where}: {name}"
    # The base model where the setup step converts it (manage.py prepare_model).
    model_dir = next(c for c in containers if c.weft).env["WEFT_MODEL_DIR"]
    assert given["--model"] == f"{model_dir}/{BASE_MODEL_FOLDER}"
    assert given["--host"] == "0.0.0.0"  # noqa: S104 (reachable by the other containers)
    weft_url = next(c for c in containers if c.weft).env["WEFT_VLLM_URL"]
    assert weft_url.endswith(f":{given['--port']}/v1")


def test_workers_consume_the_queues_jobs_and_evaluations_are_routed_to(containers):
    workers = {c.name: c for c in containers if "celery" in c.argv and "worker" in c.argv}
    assert set(workers) == set(QUEUES), "one worker per queue, and no worker elsewhere"
    for name, queue in QUEUES.items():
        argv = workers[name].argv
        assert argv[argv.index("-Q") + 1] == queue, f"{workers[name].where}: {name}"
    (web,) = [c for c in containers if c.name == "web"]
    assert web.argv[:2] == ["uvicorn", "project.asgi:application"]


def test_the_gpus_go_to_the_training_worker_and_vllm(containers):
    assert {c.name for c in containers if c.gpu} == {"worker-train", "vllm"}


def test_every_container_finds_the_shared_storage_root_at_the_same_path(containers):
    # Adapters are stored by absolute path: the one training wrote is the one vLLM reads.
    data_dirs = {c.env["WEFT_DATA_DIR"] for c in containers if c.weft}
    assert len(data_dirs) == 1
    (data_dir,) = data_dirs
    volumes = {c.mounts.get(data_dir) for c in containers if c.weft or c.vllm}
    assert len(volumes) == 1 and None not in volumes, "every Weft container and vLLM mount it"
    assert all(c.env["WEFT_MODEL_DIR"].startswith(data_dir + "/") for c in containers if c.weft)
