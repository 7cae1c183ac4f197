from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StepRef(_message.Message):
    __slots__ = ("span_id", "trace_id", "sequence", "kind", "name")
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    span_id: str
    trace_id: str
    sequence: int
    kind: str
    name: str
    def __init__(self, span_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., sequence: _Optional[int] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DriftFinding(_message.Message):
    __slots__ = ("kind", "severity", "description", "expected_json", "actual_json", "paths", "position", "baseline", "candidate", "related")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_JSON_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_JSON_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    RELATED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    severity: str
    description: str
    expected_json: str
    actual_json: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    position: int
    baseline: StepRef
    candidate: StepRef
    related: _containers.RepeatedCompositeFieldContainer[DriftFinding]
    def __init__(self, kind: _Optional[str] = ..., severity: _Optional[str] = ..., description: _Optional[str] = ..., expected_json: _Optional[str] = ..., actual_json: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., position: _Optional[int] = ..., baseline: _Optional[_Union[StepRef, _Mapping]] = ..., candidate: _Optional[_Union[StepRef, _Mapping]] = ..., related: _Optional[_Iterable[_Union[DriftFinding, _Mapping]]] = ...) -> None: ...

class FirstDivergence(_message.Message):
    __slots__ = ("position", "baseline", "candidate", "expected_signature", "actual_signature", "changes_json")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CHANGES_JSON_FIELD_NUMBER: _ClassVar[int]
    position: int
    baseline: StepRef
    candidate: StepRef
    expected_signature: _containers.RepeatedScalarFieldContainer[str]
    actual_signature: _containers.RepeatedScalarFieldContainer[str]
    changes_json: str
    def __init__(self, position: _Optional[int] = ..., baseline: _Optional[_Union[StepRef, _Mapping]] = ..., candidate: _Optional[_Union[StepRef, _Mapping]] = ..., expected_signature: _Optional[_Iterable[str]] = ..., actual_signature: _Optional[_Iterable[str]] = ..., changes_json: _Optional[str] = ...) -> None: ...

class DriftReport(_message.Message):
    __slots__ = ("findings", "first_divergence", "baseline_steps", "candidate_steps", "mode", "baseline_session", "candidate_session", "notes")
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    FIRST_DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_STEPS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_STEPS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SESSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SESSION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    findings: _containers.RepeatedCompositeFieldContainer[DriftFinding]
    first_divergence: FirstDivergence
    baseline_steps: int
    candidate_steps: int
    mode: str
    baseline_session: str
    candidate_session: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, findings: _Optional[_Iterable[_Union[DriftFinding, _Mapping]]] = ..., first_divergence: _Optional[_Union[FirstDivergence, _Mapping]] = ..., baseline_steps: _Optional[int] = ..., candidate_steps: _Optional[int] = ..., mode: _Optional[str] = ..., baseline_session: _Optional[str] = ..., candidate_session: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...
