process LLM4MS_TEXTUALIZE {
    tag "$meta.id"
    label 'process_single'

    container 'ghcr.io/llm4ms/llm4ms:0.1.0'

    input:
    // Staged in a folder of their own: an llm4ms table given back as input (q.parquet) would
    // otherwise have the name of this task's output.
    tuple val(meta), path(spectra, stageAs: 'input/*')

    output:
    tuple val(meta), path("${prefix}.parquet")    , emit: spectra
    tuple val(meta), path("${prefix}.rejected.tsv"), emit: rejected
    path "versions.yml"                            , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    llm4ms textualize \\
        $args \\
        --rejected ${prefix}.rejected.tsv \\
        --quiet \\
        -o ${prefix}.parquet \\
        $spectra

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.parquet
    printf 'source_file\\tposition\\tid\\treason\\n' > ${prefix}.rejected.tsv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """
}
