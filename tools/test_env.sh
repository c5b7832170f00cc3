# Environment shared by the test command and CI: offline-safe settings, fixtures required.
export FUSION_PAPERS_DATA=${FUSION_PAPERS_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && cd .. && pwd)/shared/data}
export FUSION_PAPERS_REQUIRE_DATA=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export MPLBACKEND=Agg PYTHONHASHSEED=0
