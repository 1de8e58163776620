"""The page (gradio Blocks): Make, Watch and Result in one tab, earlier runs in the Gallery tab.

Each session follows one run directory (``gr.State``); a 1 s timer refreshes its view from
``dream3d.app.actions.view`` and sends only what changed. The buttons call
``dream3d.app.actions``; errors come back as text and are shown in the page.
"""

import html
from pathlib import Path
from typing import Any

import gradio as gr

from dream3d.app import actions
from dream3d.app.actions import AppContext
from dream3d.app.make import MakeRequest, default_steps
from dream3d.app.runs import find_runs, read_run
from dream3d.app.watch import queue_summary

REFRESH_SECONDS = 1.0
"""How often the page asks for news of the run it follows, by default."""
CSS = """
#d3-status .d3-error { color: #b91c1c; white-space: pre-wrap; }
#d3-status .d3-info { white-space: pre-wrap; }
#d3-form-error { color: #b91c1c; white-space: pre-wrap; }
#d3-progress progress { width: 100%; height: 1.2em; }
"""
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
"""Local fonts only: the page loads nothing from the network."""


def _status_html(text: str, error: bool) -> str:
    kind = "d3-error" if error else "d3-info"
    return f'<div class="{kind}" data-error="{int(error)}">{html.escape(text)}</div>'


def _progress_html(fraction: float, text: str) -> str:
    return (f'<div data-fraction="{fraction:.4f}"><progress max="1" value="{fraction:.4f}"></progress>'
            f'<div class="d3-progress-text">{html.escape(text)}</div></div>')


def _error_html(text: str) -> str:
    return f'<div class="d3-message">{html.escape(text)}</div>' if text else ""


def _changed(key: str, value: Any, shown: dict, make: Any) -> Any:
    """``make(value)`` if ``value`` differs from what the page shows, else ``gr.skip()``."""
    if key in shown and shown[key] == value:
        return gr.skip()
    shown[key] = value
    return make(value)


def build(context: AppContext, default_method: str, refresh_seconds: float = REFRESH_SECONDS) -> gr.Blocks:
    """The page for ``context``; ``default_method`` is selected when it opens; the run shown is
    refreshed every ``refresh_seconds``."""
    steps_of = {c.name: default_steps(c, context.overrides) for c in context.choices}
    first = context.choice(default_method) or context.choices[0]

    with gr.Blocks(title="dream3d", analytics_enabled=False) as page:
        run_dir = gr.State("")
        shown = gr.State({})
        gallery_runs = gr.State([])
        gr.Markdown("## dream3d: text to 3D")
        queue_line = gr.Markdown(queue_summary(context.queue), elem_id="d3-queue")
        with gr.Tabs(selected="make") as tabs:
            with gr.Tab("Make", id="make"):
                with gr.Row():
                    with gr.Column(scale=2):
                        prompt = gr.Textbox(label="Prompt", placeholder="a red cube", elem_id="d3-prompt")
                        with gr.Row():
                            method = gr.Dropdown([(c.label, c.name) for c in context.choices], value=first.name,
                                                 label="Method", elem_id="d3-method", scale=3)
                            steps = gr.Number(steps_of[first.name], label="Steps", precision=0, minimum=1,
                                              elem_id="d3-steps", scale=1)
                            seed = gr.Number(0, label="Seed", precision=0, elem_id="d3-seed", scale=1)
                        mesh = gr.File(label="Mesh to texture (OBJ, GLB or PLY)", file_types=[".obj", ".glb", ".ply"],
                                       visible=first.needs_mesh, elem_id="d3-mesh")
                        with gr.Row(visible=first.needs_image) as image_row:
                            image = gr.Image(label="Image (RGBA, or an object on a plain background)", type="filepath",
                                             elem_id="d3-image", scale=3)
                            elevation = gr.Number(0, label="Elevation of its camera (degrees)", elem_id="d3-elevation",
                                                  scale=1)
                        with gr.Row():
                            run = gr.Button("Run", variant="primary", elem_id="d3-run")
                            stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="d3-stop")
                            resume = gr.Button("Resume", interactive=False, elem_id="d3-resume")
                        form_error = gr.HTML("", elem_id="d3-form-error")
                    with gr.Column(scale=3):
                        title = gr.HTML("", elem_id="d3-title")
                        status = gr.HTML("", elem_id="d3-status")
                        progress = gr.HTML(_progress_html(0.0, ""), elem_id="d3-progress")
                        preview = gr.Image(label="Preview (four views and their opacity)", type="filepath",
                                           interactive=False, elem_id="d3-preview", height=300)
                with gr.Row():
                    video = gr.Video(label="Turntable", interactive=False, elem_id="d3-video", height=320)
                    model = gr.Model3D(label="Asset (drag to turn)", elem_id="d3-model", height=320,
                                       clear_color=(1.0, 1.0, 1.0, 1.0))
                with gr.Row():
                    glb = gr.DownloadButton("Download GLB", visible=False, elem_id="d3-glb")
                    obj = gr.DownloadButton("Download OBJ + MTL + PNG (zip)", visible=False, elem_id="d3-obj")
                score = gr.Markdown("", elem_id="d3-score")
            with gr.Tab("Gallery", id="gallery") as gallery_tab:
                refresh = gr.Button("Refresh", elem_id="d3-gallery-refresh")
                gallery = gr.Gallery(label=f"Runs in {context.outputs}", columns=4, height="auto", object_fit="contain",
                                     allow_preview=False, elem_id="d3-gallery")
        timer = gr.Timer(refresh_seconds)

        watched = [queue_line, title, status, progress, preview, video, model, glb, obj, score, stop, resume, shown]

        def refresh_view(current: str, seen: dict) -> list:
            view, files = actions.view(context, current)
            seen = dict(seen)
            return [
                _changed("queue", queue_summary(context.queue), seen, lambda v: v),
                _changed("title", _title(context, current), seen, lambda v: v),
                _changed("status", (view.status, view.error), seen, lambda v: _status_html(*v)),
                _changed("progress", (view.fraction, view.progress_text), seen, lambda v: _progress_html(*v)),
                _changed("preview", str(view.preview) if view.preview else None, seen, lambda v: v),
                _changed("video", files.video, seen, lambda v: v),
                _changed("model", files.glb, seen, lambda v: v),
                _changed("glb", files.glb, seen, lambda v: gr.DownloadButton(value=v, visible=v is not None)),
                _changed("obj", files.obj_zip, seen, lambda v: gr.DownloadButton(value=v, visible=v is not None)),
                _changed("score", files.score, seen, lambda v: v),
                _changed("stop", view.can_stop, seen, lambda v: gr.Button(interactive=v)),
                _changed("resume", view.can_resume, seen, lambda v: gr.Button(interactive=v)),
                seen,
            ]

        def on_method(name: str) -> list:
            choice = context.choice(name)
            return [gr.Number(value=steps_of.get(name, 1)), gr.File(visible=bool(choice and choice.needs_mesh)),
                    gr.Row(visible=bool(choice and choice.needs_image))]

        def on_run(text: str, name: str, count: float | None, number: float | None, upload: str | None,
                   picture: str | None, angle: float | None, current: str) -> list:
            request = MakeRequest(name, text or "", count, number if number is not None else 0, upload, picture,
                                  angle or 0.0)
            started, message = actions.start(context, request)
            return [started or current, _error_html(message)]

        def on_stop(current: str) -> str:
            return _error_html(actions.stop(context, current))

        def on_resume(current: str) -> str:
            return _error_html(actions.resume(context, current))

        def on_gallery() -> list:
            records = [r for r in find_runs(context.outputs) if r.preview or r.mesh_preview]
            items = [(str(r.preview or r.mesh_preview), _caption(r)) for r in records]
            return [items, [str(r.run_dir) for r in records]]

        def on_open(runs: list[str], event: gr.SelectData) -> list:
            chosen = runs[event.index] if 0 <= event.index < len(runs) else ""
            record = read_run(Path(chosen)) if chosen else None
            if record is not None and record.finished:
                actions.result_files(context, record, compute_score=True)  # shown by the next refresh
            return [chosen, {}, gr.Tabs(selected="make"), ""]

        def on_load(current: str) -> str:
            """A page opened (or reloaded) while a run trains shows that run."""
            running = context.queue.running()
            return current or (str(running.run_dir) if running is not None else "")

        page.load(on_load, run_dir, run_dir)
        method.change(on_method, method, [steps, mesh, image_row])
        run.click(on_run, [prompt, method, steps, seed, mesh, image, elevation, run_dir], [run_dir, form_error], show_progress="hidden").then(
            refresh_view, [run_dir, shown], watched, show_progress="hidden")
        prompt.submit(on_run, [prompt, method, steps, seed, mesh, image, elevation, run_dir], [run_dir, form_error],
                      show_progress="hidden").then(
            refresh_view, [run_dir, shown], watched, show_progress="hidden")
        stop.click(on_stop, run_dir, form_error, show_progress="hidden")
        resume.click(on_resume, run_dir, form_error, show_progress="hidden")
        timer.tick(refresh_view, [run_dir, shown], watched, show_progress="hidden")
        refresh.click(on_gallery, None, [gallery, gallery_runs])
        gallery_tab.select(on_gallery, None, [gallery, gallery_runs])
        gallery.select(on_open, gallery_runs, [run_dir, shown, tabs, form_error])
    return page


def _title(context: AppContext, current: str) -> str:
    """``<b>a red cube</b> · dreamgaussian · outputs/dreamgaussian/a_red_cube@...`` for the run shown."""
    if not current:
        return ""
    record = read_run(Path(current))
    job = context.queue.latest_for(Path(current))
    prompt = record.prompt if record is not None else job.label if job is not None else ""
    method = (record.name or record.method) if record is not None else ""
    shown = Path(current)
    if shown.is_relative_to(Path.cwd()):
        shown = shown.relative_to(Path.cwd())  # outputs/dreamfusion/... as on the command line
    parts = [f"<b>{html.escape(prompt)}</b>", html.escape(method), f"<code>{html.escape(str(shown))}</code>"]
    return " · ".join(p for p in parts if p)


def _caption(record) -> str:
    state = ("done" if record.finished else f"stopped at {record.steps_done}" if record.stopped and record.steps_done
             else "stopped" if record.stopped else "no result")
    return f"{record.prompt} · {record.name or record.method} · {state}"
