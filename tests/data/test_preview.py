"""The world preview writes a PNG grid of sibling classes."""

from PIL import Image

from fgkd.data.preview import render_preview


def test_preview_writes_a_png(tmp_path):
    path = render_preview(tmp_path / "sub" / "preview.png", image_size=32, domains=("bird", "car"),
                          siblings=2, per_class=1)
    assert path == tmp_path / "sub" / "preview.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100
    assert [p.name for p in path.parent.iterdir()] == ["preview.png"]  # no temporary file left


def test_preview_rejects_a_single_sibling(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="siblings >= 2"):
        render_preview(tmp_path / "p.png", siblings=1)
