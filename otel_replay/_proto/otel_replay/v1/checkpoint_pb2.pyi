from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CheckpointEnvelope(_message.Message):
    __slots__ = ("checkpoint_id", "session_id", "sequence", "framework", "label", "created_time_unix_nano", "parent_checkpoint_id", "state_json", "state_digest", "step_sequence", "trace_id", "span_id")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PARENT_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    STATE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    STEP_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: str
    session_id: str
    sequence: int
    framework: str
    label: str
    created_time_unix_nano: int
    parent_checkpoint_id: str
    state_json: bytes
    state_digest: str
    step_sequence: int
    trace_id: str
    span_id: str
    def __init__(self, checkpoint_id: _Optional[str] = ..., session_id: _Optional[str] = ..., sequence: _Optional[int] = ..., framework: _Optional[str] = ..., label: _Optional[str] = ..., created_time_unix_nano: _Optional[int] = ..., parent_checkpoint_id: _Optional[str] = ..., state_json: _Optional[bytes] = ..., state_digest: _Optional[str] = ..., step_sequence: _Optional[int] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ...) -> None: ...
