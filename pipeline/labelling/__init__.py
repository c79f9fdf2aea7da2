"""The Label Studio edge: push comments to label, pull the analysts' answers back.

    from pipeline import labelling as ls
    client = ls.connect(ls.resolve_connection(default_url))
    project = ls.ensure_project(client, ls.project_title(name, question_id),
                                ls.label_config(codebook, meta), codebook.question,
                                state_path=question_dir / "labels" / "label_studio.json")
    ls.push(client, project, comments, chosen_ids, predictions, model_version, meta)  # train
    ls.push(client, project, comments, audit_ids, metadata=meta, sample="audit")  # blind audit
    ls.pull(client, codebook, state_path=..., annotations_path=..., labelled_path=...,
            agreement_path=..., disagreements_path=..., comments=comments)

Modules by job: `client` (server, token, errors), `interface` (labelling XML and task data from
the codebook), `project` (find the project by its stored id, titles, the push lock), `push`,
`history` (the append-only answers file), `pull`, `agreement`.
"""

from pipeline.labelling.agreement import agreement, agreement_summary
from pipeline.labelling.client import (
    TOKEN_VARS,
    Connection,
    LabelStudioError,
    config_file,
    connect,
    read_env_file,
    resolve_connection,
)
from pipeline.labelling.history import (
    annotation_records,
    append_jsonl,
    current_answers,
    new_records,
    read_annotations,
)
from pipeline.labelling.interface import (
    HINTS,
    METADATA,
    METADATA_NAMES,
    NONE_NAME,
    instructions,
    label_config,
    metadata_columns,
    task_data,
)
from pipeline.labelling.project import (
    TITLE_MAX,
    Project,
    ensure_project,
    find_project,
    project_tasks,
    project_title,
    read_state,
    record_audit_draw,
)
from pipeline.labelling.pull import (
    LS_SOURCE,
    PullResult,
    annotators,
    export_tasks,
    materialise,
    pull,
)
from pipeline.labelling.push import (
    PushResult,
    duplicate_tasks,
    prediction_result,
    predictions_from_coded,
    push,
)

__all__ = [
    "HINTS",
    "LS_SOURCE",
    "METADATA",
    "METADATA_NAMES",
    "NONE_NAME",
    "TITLE_MAX",
    "TOKEN_VARS",
    "Connection",
    "LabelStudioError",
    "Project",
    "PullResult",
    "PushResult",
    "agreement",
    "agreement_summary",
    "annotation_records",
    "annotators",
    "append_jsonl",
    "config_file",
    "connect",
    "current_answers",
    "duplicate_tasks",
    "ensure_project",
    "export_tasks",
    "find_project",
    "instructions",
    "label_config",
    "materialise",
    "metadata_columns",
    "new_records",
    "predictions_from_coded",
    "prediction_result",
    "project_tasks",
    "project_title",
    "pull",
    "push",
    "read_annotations",
    "read_env_file",
    "read_state",
    "record_audit_draw",
    "resolve_connection",
    "task_data",
]
