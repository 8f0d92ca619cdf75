"""A CRI v1 client for tests: grpcio with the generated CRI API of the
`container-runtime-interface-api` package (runtime.v1 messages and stubs, with .pyi
stubs; it needs protobuf 6, as our own generated code does, so one protobuf serves both).
"""

from __future__ import annotations

from typing import TypeVar

import grpc
from cri_api.v1 import api_pb2
from google.protobuf.message import Message

TIMEOUT = 60
Reply = TypeVar("Reply", bound=Message)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


class Cri:
    """Typed unary calls on runtime.v1.RuntimeService and ImageService (grpcio is untyped)."""

    def __init__(self, grpc_address: str) -> None:
        self.channel = grpc.insecure_channel(f"unix://{grpc_address}")

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, request: Message, reply_type: type[Reply]) -> Reply:
        """`method` as "RuntimeService/RunPodSandbox". Raises grpc.RpcError."""
        stub = self.channel.unary_unary(
            f"/runtime.v1.{method}",
            request_serializer=_serialize,
            response_deserializer=reply_type.FromString,
        )
        reply = stub(request, timeout=TIMEOUT)
        assert isinstance(reply, reply_type)
        return reply

    def version(self) -> api_pb2.VersionResponse:
        return self.call(
            "RuntimeService/Version", api_pb2.VersionRequest(), api_pb2.VersionResponse
        )

    def image_status(self, name: str) -> api_pb2.ImageStatusResponse:
        request = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=name))
        return self.call("ImageService/ImageStatus", request, api_pb2.ImageStatusResponse)

    def pod_config(self, name: str, log_dir: str) -> api_pb2.PodSandboxConfig:
        """A pod on the host network (no CNI here), hostname left unset as NODE mode needs."""
        node = api_pb2.NamespaceOption(network=api_pb2.NODE)
        return api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="test"),
            log_directory=log_dir,
            linux=api_pb2.LinuxPodSandboxConfig(
                security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=node)
            ),
        )

    def run_pod(self, config: api_pb2.PodSandboxConfig, handler: str) -> str:
        request = api_pb2.RunPodSandboxRequest(config=config, runtime_handler=handler)
        reply = self.call("RuntimeService/RunPodSandbox", request, api_pb2.RunPodSandboxResponse)
        return reply.pod_sandbox_id

    def list_pods(self) -> list[api_pb2.PodSandbox]:
        request = api_pb2.ListPodSandboxRequest()
        reply = self.call("RuntimeService/ListPodSandbox", request, api_pb2.ListPodSandboxResponse)
        return list(reply.items)

    def remove_pod(self, pod_id: str) -> None:
        stop = api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id)
        self.call("RuntimeService/StopPodSandbox", stop, api_pb2.StopPodSandboxResponse)
        remove = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id)
        self.call("RuntimeService/RemovePodSandbox", remove, api_pb2.RemovePodSandboxResponse)

    def create_container(
        self,
        pod_id: str,
        pod: api_pb2.PodSandboxConfig,
        name: str,
        image: str,
        command: list[str],
    ) -> str:
        config = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name=name),
            image=api_pb2.ImageSpec(image=image),
            command=command,
            log_path=f"{name}.log",
        )
        request = api_pb2.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=config, sandbox_config=pod
        )
        reply = self.call(
            "RuntimeService/CreateContainer", request, api_pb2.CreateContainerResponse
        )
        return reply.container_id

    def start_container(self, container_id: str) -> None:
        request = api_pb2.StartContainerRequest(container_id=container_id)
        self.call("RuntimeService/StartContainer", request, api_pb2.StartContainerResponse)

    def exec_sync(self, container_id: str, cmd: list[str]) -> api_pb2.ExecSyncResponse:
        request = api_pb2.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=30)
        return self.call("RuntimeService/ExecSync", request, api_pb2.ExecSyncResponse)

    def container_stats(self, container_id: str) -> api_pb2.ContainerStats:
        request = api_pb2.ContainerStatsRequest(container_id=container_id)
        reply = self.call("RuntimeService/ContainerStats", request, api_pb2.ContainerStatsResponse)
        return reply.stats

    def update_resources(self, container_id: str, memory: int) -> None:
        request = api_pb2.UpdateContainerResourcesRequest(
            container_id=container_id,
            linux=api_pb2.LinuxContainerResources(memory_limit_in_bytes=memory),
        )
        self.call(
            "RuntimeService/UpdateContainerResources",
            request,
            api_pb2.UpdateContainerResourcesResponse,
        )

    def container_status(self, container_id: str) -> api_pb2.ContainerStatus:
        request = api_pb2.ContainerStatusRequest(container_id=container_id)
        reply = self.call(
            "RuntimeService/ContainerStatus", request, api_pb2.ContainerStatusResponse
        )
        return reply.status

    def stop_container(self, container_id: str, timeout: int) -> None:
        request = api_pb2.StopContainerRequest(container_id=container_id, timeout=timeout)
        self.call("RuntimeService/StopContainer", request, api_pb2.StopContainerResponse)

    def remove_container(self, container_id: str) -> None:
        request = api_pb2.RemoveContainerRequest(container_id=container_id)
        self.call("RuntimeService/RemoveContainer", request, api_pb2.RemoveContainerResponse)
